package test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// searchScript logs in with imaplib and prints the answers to SEARCH
// BODY and SEARCH TEXT for each word given.
const searchScript = `
import imaplib, sys
host, port, user, pw = sys.argv[1:5]
m = imaplib.IMAP4(host, int(port))
m.login(user, pw)
m.select("INBOX")
for w in sys.argv[5:]:
    for key in ("BODY", "TEXT"):
        typ, d = m.search(None, key, '"%s"' % w)
        print(key, w, d[0].decode() or "-")
m.logout()
`

// A parent looks for the school's note about Zanzibar: imaplib's SEARCH
// BODY and SEARCH TEXT find the messages whose text says the word, in
// any case, an HTML one and a 400 KiB one (kept outside the database's
// text index) included, and nothing for a word no message has. On
// PostgreSQL (test/pg.txt) the candidates come through the trigram index.
func TestIMAPSearchBodyFindsTheMessagesThatSayTheWord(t *testing.T) {
	b := newBoxWith(t, map[string]string{"insecure_auth": "true"})
	py := needTool(t, "python3")
	msgs := []string{
		"Subject: trip\r\n\r\nThe ferry to ZANZIBAR leaves at eight.\r\n",
		"Subject: lunch\r\n\r\nBring a packed lunch.\r\n",
		"Subject: html\r\nContent-Type: text/html\r\n\r\n<p>Photos from <b>Zanzibar</b></p>\r\n",
		"Subject: video\r\nContent-Type: text/plain\r\n\r\n" + strings.Repeat("a long report of the day, line after line\r\n", 10000) + "and then zanzibar at the end\r\n",
		"Subject: zanzibar in the subject only\r\n\r\nnothing here\r\n",
	}
	for i, m := range msgs {
		if err := sendPlain(b.HostPort(b.SMTP), "school@elsewhere.example", b.Admin, fmt.Sprintf("Message-ID: <s%d@school.example>\r\n%s", i, m)); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(py, "-c", searchScript, b.Host(), fmt.Sprint(b.IMAP), b.Admin, b.Password, "zanzibar", "packed lunch", "timbuktu").CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	for _, want := range []string{"BODY zanzibar 1 3 4", "TEXT zanzibar 1 3 4 5", "BODY packed lunch 2", "BODY timbuktu -", "TEXT timbuktu -"} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
}
