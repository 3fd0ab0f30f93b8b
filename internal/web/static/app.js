// Small progressive enhancements; every page works without them.
"use strict";
(function () {
  // /setup: fill the table as the domain and server are typed, and keep
  // the address bar in step so the link can be sent on.
  var form = document.getElementById("setup-form");
  if (form) {
    var domain = document.getElementById("domain"), server = document.getElementById("server");
    var update = function () {
      var d = domain.value.trim().toLowerCase(), s = server.value.trim().toLowerCase();
      document.querySelectorAll(".fill-domain").forEach(function (e) { e.textContent = d; });
      document.querySelectorAll(".fill-server").forEach(function (e) { e.textContent = s; });
      document.querySelectorAll(".fill-server-value").forEach(function (e) { e.value = s; });
      var p = document.getElementById("profile-email");
      if (p) { p.placeholder = "you@" + d; }
      var q = new URLSearchParams(location.search);
      q.set("domain", d);
      q.set("server", s);
      history.replaceState(null, "", "/setup?" + q.toString());
    };
    domain.addEventListener("input", update);
    server.addEventListener("input", update);
  }
  // External DNS: copy buttons.
  document.querySelectorAll("button.copy").forEach(function (b) {
    if (!navigator.clipboard) { return; }
    b.hidden = false;
    b.addEventListener("click", function () {
      navigator.clipboard.writeText(b.getAttribute("data-copy")).then(function () { b.textContent = "Copied"; });
    });
  });
})();
