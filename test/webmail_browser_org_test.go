package test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// keys presses keys on the page (WebDriver key actions, as a person
// types them, to whatever has the focus).
func (b *browser) keys(s string) {
	b.t.Helper()
	var acts []map[string]string
	for _, r := range s {
		acts = append(acts, map[string]string{"type": "keyDown", "value": string(r)}, map[string]string{"type": "keyUp", "value": string(r)})
	}
	b.call("POST", b.base+"/actions", map[string]any{"actions": []any{map[string]any{"type": "key", "id": "kb", "actions": acts}}}, nil)
}

// waitJS polls a script until it returns true.
func (b *browser) waitJS(what, script string) {
	b.t.Helper()
	for range 100 {
		if v, _ := b.execJS(script).(bool); v {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("timed out waiting for %s", what)
}

// In a browser: j/k move through the list, o opens, u goes back, ? shows
// the keys; a row dropped on a folder moves there and the toast's Undo
// brings it back.
func TestWebmailBrowserKeysAndDrop(t *testing.T) {
	b := newBox(t)
	br := newBrowser(t)
	for i := 1; i <= 3; i++ {
		webmailSend(t, b.SMTP, "friend@elsewhere.example", b.Admin, fmt.Sprintf("From: friend@elsewhere.example\nTo: %s\nSubject: note %d\n\nbody %d\n", b.Admin, i, i))
	}
	base := fmt.Sprintf("https://127.0.0.1:%d", b.HTTPS)
	br.Go(base + "/mail/")
	br.Type("#email", b.Admin)
	br.Type("#password", b.Password)
	br.Click("#login-button")
	br.WaitText("#list", "note 3")
	br.execJS(`document.activeElement && document.activeElement.blur()`)
	cur := `var c = document.querySelector("tr.msg.cur td.subject a"); return c ? c.textContent : null`
	br.keys("j")
	if got := br.execJS(cur); got != "note 3" {
		t.Fatalf("after j: cursor on %v", got)
	}
	br.keys("jjk")
	if got := br.execJS(cur); got != "note 2" {
		t.Fatalf("after jjk: cursor on %v", got)
	}
	br.keys("o")
	br.WaitText("#subject", "note 2")
	br.keys("u")
	br.WaitText("#list", "note 1")
	br.execJS(`document.activeElement && document.activeElement.blur()`)
	br.keys("?")
	if got := br.Text("#keys-help"); !strings.Contains(got, "next / previous message") {
		t.Errorf("help overlay: %q", got)
	}
	br.keys("\ue00c") // Escape
	// Drag "note 1" onto Archive: a drag in headless Chromium cannot be
	// made through WebDriver, so the events are dispatched as a drag
	// makes them, with one DataTransfer.
	br.execJS(`
		var row = [...document.querySelectorAll("tr.msg")].find(r => r.textContent.includes("note 1"));
		var target = [...document.querySelectorAll("#folders a.folder")].find(a => a.querySelector(".name").textContent === "Archive");
		var dt = new DataTransfer();
		row.dispatchEvent(new DragEvent("dragstart", {bubbles: true, cancelable: true, dataTransfer: dt}));
		target.dispatchEvent(new DragEvent("dragover", {bubbles: true, cancelable: true, dataTransfer: dt}));
		target.dispatchEvent(new DragEvent("drop", {bubbles: true, cancelable: true, dataTransfer: dt}));`)
	br.waitJS("the toast", `var t = document.getElementById("toast"); return !!t && !t.hidden && t.textContent.includes("Undo")`)
	testutilWait(t, "note 1 in Archive", func() bool { return len(b.Mailbox(b.Admin, "Archive")) == 1 })
	br.waitJS("the list without note 1", `return !document.getElementById("list").textContent.includes("note 1")`)
	br.Click("#undo")
	testutilWait(t, "note 1 back in INBOX", func() bool { return len(b.Mailbox(b.Admin, "Archive")) == 0 && len(b.Mailbox(b.Admin, "INBOX")) == 3 })
	br.WaitText("#list", "note 1")
	// e archives the message under the cursor.
	br.execJS(`document.activeElement && document.activeElement.blur()`)
	br.keys("j")
	want, _ := br.execJS(cur).(string)
	br.keys("e")
	testutilWait(t, want+" archived by e", func() bool {
		a := b.Mailbox(b.Admin, "Archive")
		return want != "" && len(a) == 1 && strings.Contains(string(a[0]), want)
	})
	// Shift+click ticks the range; the toolbar's Move then moves them all
	// (through the module, with the toast).
	webmailSend(t, b.SMTP, "friend@elsewhere.example", b.Admin, fmt.Sprintf("From: friend@elsewhere.example\nTo: %s\nSubject: note 4\n\nbody 4\n", b.Admin))
	br.WaitText("#list", "note 4")
	br.execJS(`var bs = document.querySelectorAll("#list input[name=uid]");
		bs[0].click();
		bs[bs.length - 1].dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true, shiftKey: true}));`)
	if n := br.execJS(`return document.querySelectorAll("#list input[name=uid]:checked").length`); n != float64(3) {
		t.Fatalf("shift+click ticked %v rows", n)
	}
	br.execJS(`var s = document.querySelector("#list-form select[name=to]");
		s.value = [...s.options].find(o => o.textContent === "Trash").value;
		document.querySelector("#list-form button[value=move]").click();`)
	testutilWait(t, "three messages in Trash", func() bool { return len(b.Mailbox(b.Admin, "Trash")) == 3 })
	br.waitJS("the toast after the move", `var t = document.getElementById("toast"); return !!t && !t.hidden && t.textContent.includes("Moved")`)
}

func testutilWait(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
