package test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// In a real browser: log in, reply (to the Reply-To address) with an
// attachment chosen in the file input (mail.js uploads it with
// progress), send; after the undo hold the recipient reads the reply and
// its attachment over IMAP.
func TestWebmailBrowserReplyWithAttachment(t *testing.T) {
	b := newBoxWith(t, map[string]string{"webmail_undo_seconds": "1"})
	br := newBrowser(t)
	addUser(t, b, "kid@example.test", "kid-secret-42")
	webmailSend(t, b.SMTP, "friend@elsewhere.example", b.Admin, "From: Friend <friend@elsewhere.example>\nReply-To: kid@example.test\nTo: "+b.Admin+
		"\nSubject: Ferienfotos\nMessage-ID: <f1@elsewhere.example>\n\nSchickst du mir die Liste?\n")
	content := "Liste: Zelt, Kocher, Käse\n"
	path := filepath.Join(t.TempDir(), "liste-ä.txt")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("https://127.0.0.1:%d", b.HTTPS)
	br.Go(base + "/mail/")
	br.Type("#email", b.Admin)
	br.Type("#password", b.Password)
	br.Click("#login-button")
	if got := br.WaitText("#list", "Ferienfotos"); !strings.Contains(got, "Ferienfotos") {
		t.Fatalf("list after login:\n%s", got)
	}
	br.execJS(`location.href = Array.from(document.querySelectorAll("td.subject a")).find(a => a.textContent.includes("Ferienfotos")).href`)
	br.WaitText("#message", "From")
	br.Click("#reply")
	br.WaitText("#compose-form", "Subject")
	if to := br.execJS(`return document.getElementById("to").value`); to != "kid@example.test" {
		t.Errorf("reply goes to %v, want the Reply-To address", to)
	}
	br.call("POST", br.base+"/element/"+br.find("#file")+"/value", map[string]string{"text": path}, nil)
	if got := br.WaitText("#file-list", "liste-ä.txt"); !strings.Contains(got, "liste-ä.txt") {
		t.Fatalf("the upload is not listed: %q (status %v)", got, br.execJS(`return document.getElementById("draft-status").textContent`))
	}
	br.execJS(`document.getElementById("text").value = "Hier ist sie.\n" + document.getElementById("text").value`)
	br.Click("#send")
	if u := br.WaitURL("/mail/sent"); !strings.Contains(u, "/mail/sent") {
		t.Fatalf("after send: %s", u)
	}
	var n int
	var part []byte
	for range 60 {
		if n, part = imapFetch(t, b, "kid@example.test", "kid-secret-42", "2"); n == 1 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	data, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(part), "\r\n", ""))
	if n != 1 || err != nil || string(data) != content {
		t.Fatalf("kid has %d messages; attachment %q (%v)", n, data, err)
	}
	_, text := imapFetch(t, b, "kid@example.test", "kid-secret-42", "1")
	if !strings.Contains(string(text), "Hier ist sie.") || !strings.Contains(string(text), "> Schickst du mir die Liste?") {
		t.Errorf("reply text:\n%s", text)
	}
}
