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

// --- list: keyboard, drag-and-drop, undo ---
// Keys (the ? overlay lists them), dragging rows onto a folder, and a
// toast after a move or delete with Undo (about 10 s) and, after a
// move, the "always do this" offer. Actions are the list form's POSTs
// sent with X-Requested-With: fetch, which answers JSON
// ({note, undo: {box, uids, to}, offer: {text, kind, box, uid}}).

const csrfToken = () => { const i = document.querySelector("input[name=csrf]"); return i ? i.value : ""; };
const rows = () => [...document.querySelectorAll("#list tr.msg")];
let cursor = -1;
let cursorKey = ""; // box:uid of the cursor's row, kept across list refreshes

const rowKey = (r) => r.dataset.box + ":" + r.dataset.uid;

function setCursor(i) {
  const rs = rows();
  if (rs.length === 0) { return; }
  cursor = Math.max(0, Math.min(i, rs.length - 1));
  cursorKey = rowKey(rs[cursor]);
  rs.forEach((r, k) => r.classList.toggle("cur", k === cursor));
  rs[cursor].scrollIntoView({ block: "nearest" });
}

// After refresh() replaced the list, the cursor stays on its message
// (or, when that one left, on the row now at its place).
function keepCursor() {
  if (cursor < 0) { return; }
  const rs = rows();
  const i = rs.findIndex((r) => rowKey(r) === cursorKey);
  if (i >= 0) { cursor = i; }
  cursor = Math.min(cursor, rs.length - 1);
  if (cursor >= 0) { cursorKey = rowKey(rs[cursor]); }
  rs.forEach((r, k) => r.classList.toggle("cur", k === cursor));
}
const mainEl = document.getElementById("main");
if (mainEl && list) { new MutationObserver(keepCursor).observe(mainEl, { childList: true }); }

// chosen: the ticked rows, else the cursor's, as {box, uids}.
function chosen() {
  const ticked = [...document.querySelectorAll("#list input[name=uid]:checked")].map((i) => i.value);
  const box = list ? list.dataset.box : message ? message.dataset.box : "";
  if (ticked.length) { return { box, uids: ticked }; }
  if (message) { return { box, uids: [message.dataset.uid] }; }
  const r = rows()[cursor];
  return r ? { box: r.dataset.box, uids: [r.dataset.uid] } : { box, uids: [] };
}

async function post(url, fields) {
  const body = new URLSearchParams();
  body.append("csrf", csrfToken());
  for (const [k, v] of fields) { body.append(k, v); }
  const res = await fetch(url, { method: "POST", credentials: "same-origin", body, headers: { "X-Requested-With": "fetch" } });
  if (!res.ok) { toast({ note: (await res.text()).slice(0, 200) }); return null; }
  return res.status === 204 ? {} : res.json();
}

// act applies op to messages; moves get the toast.
async function act(op, sel, to) {
  if (!sel.uids.length) { return; }
  const fields = [["op", op], ...sel.uids.map((u) => ["uid", u])];
  if (to) { fields.push(["to", to]); }
  const out = await post("/mail/act/" + sel.box, fields);
  if (!out) { return; }
  if (message && out.undo) { // the message left this folder: back to the list, the toast follows
    sessionStorage.setItem("boxmail-toast", JSON.stringify(out));
    location.href = "/mail/box/" + sel.box;
    return;
  }
  if (out.undo || out.offer) { toast(out); }
  if (list) { refresh(); } else if (message) { location.reload(); }
}

let toastTimer = 0;
function toast(out) {
  let t = document.getElementById("toast");
  if (!t) {
    t = document.createElement("div");
    t.id = "toast"; t.className = "toast"; t.setAttribute("role", "status");
    document.body.append(t);
  }
  t.replaceChildren();
  const text = document.createElement("span");
  text.textContent = out.note || "";
  t.append(text);
  if (out.undo) {
    const b = document.createElement("button");
    b.textContent = "Undo"; b.id = "undo";
    b.addEventListener("click", async () => {
      t.hidden = true;
      const back = await post("/mail/act/" + out.undo.box, [["op", "move"], ["to", String(out.undo.to)], ...out.undo.uids.map((u) => ["uid", String(u)])]);
      if (back && list) { refresh(); }
    });
    t.append(" ", b);
  }
  if (out.offer) {
    const q = document.createElement("span");
    q.textContent = " " + out.offer.text + " ";
    const b = document.createElement("button");
    b.textContent = "Always do this"; b.id = "always";
    b.addEventListener("click", async () => {
      const r = await post("/mail/rule", [["box", String(out.offer.box)], ["uid", String(out.offer.uid)], ["kind", out.offer.kind]]);
      if (r) { toast({ note: r.note }); }
    });
    t.append(q, b);
  }
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, out.offer ? 15000 : 10000);
}

const carried = sessionStorage.getItem("boxmail-toast");
if (carried) { sessionStorage.removeItem("boxmail-toast"); try { toast(JSON.parse(carried)); } catch (e) { /* ignore */ } }

// The list form's buttons go through act when the module runs (so a
// move or delete gets the toast); without it the form posts as usual.
document.addEventListener("submit", (e) => {
  const f = e.target;
  if (f.classList && f.classList.contains("delete-folder") && !confirm("Delete the folder " + f.dataset.name + " with all its messages and subfolders?")) {
    e.preventDefault();
    return;
  }
  if (f.id !== "list-form" || !e.submitter || e.submitter.name !== "op") { return; }
  e.preventDefault();
  const sel = chosen();
  const to = f.querySelector("select[name=to]");
  act(e.submitter.value, sel, e.submitter.value === "move" && to ? to.value : "");
});

// Drag rows (the ticked ones, or the one dragged) onto a folder.
document.addEventListener("dragstart", (e) => {
  const r = e.target.closest && e.target.closest("#list tr.msg");
  if (!r) { return; }
  const sel = chosen();
  const uids = sel.uids.includes(r.dataset.uid) ? sel.uids : [r.dataset.uid];
  e.dataTransfer.setData("application/x-boxmail", JSON.stringify({ box: r.dataset.box, uids }));
  e.dataTransfer.effectAllowed = "move";
});
document.addEventListener("dragover", (e) => {
  const f = e.target.closest && e.target.closest("#folders a.folder");
  if (f && e.dataTransfer && [...e.dataTransfer.types].includes("application/x-boxmail")) { e.preventDefault(); f.classList.add("drop"); }
});
document.addEventListener("dragleave", (e) => {
  const f = e.target.closest && e.target.closest("#folders a.folder");
  if (f) { f.classList.remove("drop"); }
});
document.addEventListener("drop", (e) => {
  const f = e.target.closest && e.target.closest("#folders a.folder");
  if (!f || !e.dataTransfer) { return; }
  const data = e.dataTransfer.getData("application/x-boxmail");
  if (!data) { return; }
  e.preventDefault();
  f.classList.remove("drop");
  const sel = JSON.parse(data);
  if (sel.box !== f.dataset.box) { act("move", sel, f.dataset.box); }
});

const keys = [
  ["j / k", "next / previous message"], ["o or Enter", "open"], ["u", "back to the list"],
  ["r", "reply"], ["a", "reply to all"], ["f", "forward"], ["c", "write a message"],
  ["#", "delete"], ["!", "junk"], ["e", "archive"], ["/", "search"], ["x", "select"],
  ["s", "flag / unflag"], ["Shift+U", "mark unread"], ["g then i", "go to INBOX"], ["?", "this help"],
];

function help() {
  let h = document.getElementById("keys-help");
  if (h) { h.hidden = !h.hidden; return; }
  h = document.createElement("div");
  h.id = "keys-help"; h.className = "overlay"; h.setAttribute("role", "dialog"); h.setAttribute("aria-label", "Keyboard shortcuts");
  const t = document.createElement("table");
  for (const [k, what] of keys) {
    const tr = t.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = what;
  }
  const close = document.createElement("button");
  close.textContent = "Close";
  close.addEventListener("click", () => { h.hidden = true; });
  const title = document.createElement("h2");
  title.textContent = "Keyboard shortcuts";
  h.append(title, t, close);
  document.body.append(h);
}

function go(id) { const a = document.getElementById(id); if (a && a.href) { location.href = a.href; } }

let gPressed = 0;
document.addEventListener("keydown", (e) => {
  const tag = e.target.tagName;
  if (e.ctrlKey || e.metaKey || e.altKey || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || e.target.isContentEditable) { return; }
  if (e.key === "Escape") { const h = document.getElementById("keys-help"); if (h) { h.hidden = true; } return; }
  const g = Date.now() - gPressed < 1500;
  gPressed = 0;
  const rs = rows();
  const cur = rs[cursor];
  const done = () => e.preventDefault();
  switch (e.key) {
    case "j": if (list) { setCursor(cursor + 1); done(); } break;
    case "k": if (list) { setCursor(cursor - 1); done(); } break;
    case "o": case "Enter":
      if (e.key === "Enter" && (tag === "BUTTON" || tag === "A")) { break; }
      if (list && cur) { const a = cur.querySelector("td.subject a"); if (a) { location.href = a.href; done(); } }
      break;
    case "u": if (message) { location.href = "/mail/box/" + message.dataset.box; done(); } break;
    case "r": go("reply"); break;
    case "a": go("reply-all"); break;
    case "f": go("forward"); break;
    case "c": go("compose"); break;
    case "#": act("delete", chosen()); done(); break;
    case "!": act("junk", chosen()); done(); break;
    case "e": act("archive", chosen()); done(); break;
    case "/": { const q = document.getElementById("search-q"); if (q) { q.focus(); done(); } break; }
    case "x": if (cur) { const c = cur.querySelector("input[name=uid]"); if (c) { c.checked = !c.checked; } done(); } break;
    case "s": {
      const sel = chosen();
      const on = message ? !!message.querySelector("button[value=unflag]") : !!(cur && cur.querySelector(".flag"));
      act(on ? "unflag" : "flag", sel); done(); break;
    }
    case "U": act("unread", chosen()); done(); break;
    case "g": gPressed = Date.now(); break;
    case "i":
      if (g) { const inbox = [...document.querySelectorAll("#folders a.folder")].find((a) => a.querySelector(".name").textContent === "INBOX"); if (inbox) { location.href = inbox.href; } done(); }
      break;
    case "?": help(); done(); break;
  }
});

// Shift+click on a checkbox ticks (or clears) the rows between it and
// the one clicked before, as mail apps do.
let lastTick = null;
document.addEventListener("click", (e) => {
  const box = e.target;
  if (!(box instanceof HTMLInputElement) || box.name !== "uid" || !box.closest("#list")) { return; }
  const all = [...document.querySelectorAll("#list input[name=uid]")];
  if (e.shiftKey && lastTick && all.includes(lastTick)) {
    const [a, b] = [all.indexOf(lastTick), all.indexOf(box)].sort((x, y) => x - y);
    all.slice(a, b + 1).forEach((i) => { i.checked = box.checked; });
  }
  lastTick = box;
});
