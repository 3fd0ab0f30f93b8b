// boxmail webmail: the one module (plain ES, no build step). Every page
// works without it; it adds live updates (Server-Sent Events from
// /mail/events: the list reloads when its mailbox changes, the tab title
// counts INBOX's unread), "mark read on open" (a POST) and the message
// iframe's height.

const list = document.getElementById("list");
const message = document.getElementById("message");
const view = list || message;
const baseTitle = document.title;

function showUnread(n) {
  document.title = n > 0 ? "(" + n + ") " + baseTitle : baseTitle;
}

// refresh replaces the list and the folder counts with the server's.
async function refresh() {
  const res = await fetch(location.href, { credentials: "same-origin", cache: "no-store" });
  if (!res.ok) { return; }
  const doc = new DOMParser().parseFromString(await res.text(), "text/html");
  for (const id of ["list", "folders"]) {
    const fresh = doc.getElementById(id), old = document.getElementById(id);
    if (fresh && old) {
      // Keep the boxes the user ticked.
      const ticked = new Set([...old.querySelectorAll("input[name=uid]:checked")].map((i) => i.value));
      old.replaceWith(fresh);
      fresh.querySelectorAll("input[name=uid]").forEach((i) => { i.checked = ticked.has(i.value); });
    }
  }
}

if (view) {
  let modseq = view.dataset.modseq;
  showUnread(Number(view.dataset.inboxUnread || 0));
  if (window.EventSource) {
    const es = new EventSource("/mail/events?box=" + encodeURIComponent(view.dataset.box));
    es.addEventListener("state", (e) => {
      const st = JSON.parse(e.data);
      showUnread(st.inbox_unread);
      if (list && String(st.modseq) !== String(modseq)) {
        modseq = String(st.modseq);
        refresh();
      }
    });
  }
}

// Mark read on open: a POST, never the GET that showed the page.
const markRead = document.getElementById("mark-read");
if (message && message.dataset.unread && markRead) {
  fetch(markRead.action, {
    method: "POST", credentials: "same-origin", body: new URLSearchParams(new FormData(markRead)),
    headers: { "X-Requested-With": "fetch" },
  }).then((res) => { if (res.ok) { markRead.hidden = true; } });
}

// The body iframe takes its content's height (same origin, no script in it).
const frame = document.getElementById("body");
if (frame) {
  frame.addEventListener("load", () => {
    try {
      const h = frame.contentDocument.documentElement.scrollHeight;
      frame.style.height = Math.max(h + 24, 200) + "px";
    } catch (e) { /* not readable: keep the default height */ }
  });
}

// --- read side (attachments, images) ---
// "Show images" reloads only the body frame (without the module the link
// reloads the page with ?images=1).
const showImages = document.getElementById("show-images");
const bodyFrame = document.getElementById("body");
if (showImages && bodyFrame) {
  showImages.addEventListener("click", (e) => {
    e.preventDefault();
    bodyFrame.src = bodyFrame.getAttribute("src").split("?")[0] + "?images=1";
    showImages.hidden = true;
  });
// --- settings ---
// The filter form shows only the folder or the address its action needs
// (without this script both show, and the server ignores the other).
const filterAction = document.getElementById("filter-action");
if (filterAction) {
  const folder = document.getElementById("filter-folder");
  const arg = document.getElementById("filter-arg");
  const show = () => {
    folder.closest("label").hidden = filterAction.value !== "move";
    arg.closest("label").hidden = filterAction.value !== "forward";
    arg.required = filterAction.value === "forward";
  };
  filterAction.addEventListener("change", show);
  show();
}
