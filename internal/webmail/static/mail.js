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
}

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

// --- compose (drafts, uploads, undo) ---
// Files are uploaded as soon as they are chosen (XHR, with progress) and
// kept as ticked "att" boxes; the form is saved as a draft every 20 s
// when it changed (the server replaces the previous version), and a copy
// of the text stays in localStorage until a save or a send, so a reload
// or a crash loses nothing. After a send, the Undo button goes away when
// the hold is over. Without this module the form posts files itself and
// has a "Save draft" button.
{
  const form = document.getElementById("compose-form");
  const status = document.getElementById("draft-status");
  const say = (t) => { if (status) { status.textContent = t; } };
  const csrf = () => form.querySelector("input[name=csrf]").value;

  function upload(file) {
    const bar = document.getElementById("upload-progress");
    const fd = new FormData();
    fd.append("csrf", csrf());
    fd.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/mail/upload");
    xhr.setRequestHeader("Accept", "application/json");
    bar.hidden = false;
    bar.value = 0;
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); } });
    xhr.addEventListener("loadend", () => {
      bar.hidden = true;
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status !== 200 || !Array.isArray(body)) {
        say((body && body.error) || "The file could not be attached (" + xhr.status + ").");
        return;
      }
      for (const u of body) { addFile(u); }
      changed = true;
    });
    xhr.send(fd);
  }

  function addFile(u) {
    const li = document.createElement("li");
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.name = "att"; box.value = u.id; box.checked = true;
    const size = document.createElement("small");
    size.textContent = u.size + " bytes";
    label.append(box, " " + u.name + " ", size);
    li.append(label);
    document.getElementById("file-list").append(li);
  }

  const storeKey = () => "boxmail-compose:" + (form.elements.draft_uid.value || form.elements.reply_uid.value || "new");
  const fields = ["to", "cc", "bcc", "subject", "body"];
  let changed = false;

  function keepLocal() {
    const v = { at: Date.now() };
    for (const n of fields) { v[n] = form.elements[n].value; }
    try { localStorage.setItem(storeKey(), JSON.stringify(v)); } catch (e) { /* private mode: no local copy */ }
  }

  function restoreLocal() {
    let v = null;
    try { v = JSON.parse(localStorage.getItem(storeKey()) || "null"); } catch (e) { v = null; }
    if (!v || v.body === form.elements.body.value) { return; }
    for (const n of fields) { if (typeof v[n] === "string") { form.elements[n].value = v[n]; } }
    changed = true;
    say("Restored the text you had not saved yet.");
  }

  let sending = false;

  async function saveDraft() {
    if (!changed || sending) { return; }
    changed = false;
    const fd = new FormData(form);
    fd.delete("file");
    const oldKey = storeKey();
    try {
      const res = await fetch("/mail/draft", { method: "POST", body: fd, credentials: "same-origin", headers: { Accept: "application/json" } });
      const body = await res.json();
      if (!res.ok) { say(body.error || "The draft could not be saved."); changed = true; return; }
      form.elements.draft_uid.value = String(body.uid);
      localStorage.removeItem(oldKey);
      say("Draft saved at " + new Date().toLocaleTimeString() + ".");
    } catch (e) {
      changed = true;
      say("The draft could not be saved; your text is kept in this browser.");
    }
  }

  function swapSignature(from, to) {
    const sig = (o) => (o && o.dataset.signature ? "\n\n-- \n" + o.dataset.signature + "\n" : "");
    const body = form.elements.body;
    const old = sig(from), fresh = sig(to);
    if (old && body.value.includes(old)) { body.value = body.value.replace(old, fresh); }
    else if (!old && fresh && !body.value.includes(fresh)) { body.value = fresh + body.value; }
  }

  if (form) {
    restoreLocal();
    form.addEventListener("input", () => { changed = true; keepLocal(); });
    const file = document.getElementById("file");
    file.addEventListener("change", () => { for (const f of file.files) { upload(f); } file.value = ""; });
    const from = form.elements.from;
    let current = from.selectedOptions[0];
    from.addEventListener("change", () => { swapSignature(current, from.selectedOptions[0]); current = from.selectedOptions[0]; });
    form.addEventListener("submit", (e) => {
      // The Save draft button posts the form too; after Send no autosave
      // may race the send and leave a stale draft.
      if (e.submitter && e.submitter.id === "send") { sending = true; }
      try { localStorage.removeItem(storeKey()); } catch (err) { /* nothing kept */ }
    });
    setInterval(saveDraft, 20000);
  }

  const sent = document.getElementById("sent");
  const undo = document.getElementById("undo-form");
  if (sent && undo) {
    setTimeout(() => { undo.remove(); }, 1000 * Number(sent.dataset.hold));
  }
}
