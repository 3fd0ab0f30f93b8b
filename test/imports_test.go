package test

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// allowed is the allow-list of the package table in docs/architecture.md:
// which internal packages each package may import. A package missing here
// may import nothing internal.
var allowed = map[string][]string{
	"cmd/boxmail":          {"*"},
	"internal/config":      {},
	"internal/store":       {"mailmsg"},
	"internal/resolver":    {},
	"internal/mailauth":    {"resolver", "mailmsg"},
	"internal/sieve":       {"mailmsg"},
	"internal/delivery":    {"store", "mailauth", "sieve", "resolver", "mailmsg", "spam", "reports", "metrics", "publicnet"},
	"internal/smtpd":       {"delivery", "mailauth", "store", "resolver", "guard", "netserve", "metrics"},
	"internal/imapd":       {"store", "guard", "netserve", "mailmsg", "imapd/wire", "imapd/inflate", "metrics"},
	"internal/pop3d":       {"store", "guard", "netserve", "metrics"},
	"internal/managesieve": {"store", "sieve", "guard", "netserve"},
	"internal/dnsrecords":  {"mailauth", "resolver"},
	"internal/dnsd":        {"dnsrecords", "store", "metrics", "safefile"}, // safefile: the DNSSEC key files
	"internal/web":         {"store", "delivery", "dnsrecords", "guard", "admin"},
	"internal/migrate":     {"store", "mailmsg"},
	"internal/testutil":    {"store", "resolver", "testutil/pgtest"},
	// testutil/pgtest: a private PostgreSQL cluster for a test run; a
	// leaf, so that the store's own tests can import it.
	"internal/testutil/pgtest": {},
	// mailmsg: where a header ends, its fields, unfolding; a leaf.
	"internal/mailmsg": {},
	// admin: the one service every admin and self-service change goes
	// through (CLI, web pages, JSON API).
	"internal/admin": {"store", "delivery", "dnsrecords", "mailauth", "sieve", "resolver", "reports"},
	// guard: the shared defences (login limiter, connection limits,
	// greylisting, DNSBL) that every front-end consults.
	"internal/guard": {"store", "resolver", "metrics"},
	// netserve: the accept loop, drain and panic recovery of the servers
	// whose wire code is ours; a leaf.
	"internal/netserve": {},
	// certs: every listener's certificate: the pair installed by hand
	// (reloaded, installed durably), ACME's (certmagic; DNS-01 records
	// go to dnsd through an interface, not an import), the self-signed
	// pair; the trust check and status lines.
	"internal/certs": {"dnsrecords", "safefile"},
	// spam: tokenizer, classifier, reputation and verdict; pure, its
	// models persist through store (delivery loads and trains them).
	"internal/spam": {"mailmsg"},
	// safefile: durable fsync-then-rename writes of the files outside
	// the store; a leaf.
	"internal/safefile": {},
	// imapd/wire: IMAP command parsing and response encoding only;
	// besides mailmsg, just go-message and the standard library.
	"internal/imapd/wire": {"mailmsg"},
	// imapd/inflate: the eager raw DEFLATE reader COMPRESS=DEFLATE
	// reads clients with; a leaf.
	"internal/imapd/inflate": {},
	// backup: snapshot, encrypt (age), content-addressed upload, verify,
	// restore.
	"internal/backup": {"store", "safefile"},
	// webmail: pages, one JS module and SSE under /mail/, mounted by web
	// through an http.Handler (cmd/boxmail wires it; neither imports the
	// other); sends through delivery.Submit.
	"internal/webmail": {"store", "delivery", "mailmsg", "admin", "sieve", "publicnet"},
	// dav: CardDAV/CalDAV over go-webdav and the store, mounted by web
	// through an http.Handler (web.Options.DAV); logs in under the guard.
	"internal/dav": {"store", "guard"},
	// reports: reading the DMARC and TLS aggregate reports others send
	// about the box's domains, and their summary; delivery keeps them.
	"internal/reports": {"mailmsg"},
	// metrics: the Prometheus registry and /metrics listener; a leaf the
	// servers take through their Options (nil: count nothing).
	"internal/metrics": {},
	// progress: the CLI's one-line progress bar (rate, ETA), drawn on a
	// terminal only; a leaf.
	"internal/progress": {},
	// publicnet: which addresses are the public internet, and the HTTP
	// client for URLs strangers choose (remote images, unsubscribe,
	// MTA-STS policies); a leaf.
	"internal/publicnet": {},
}

func TestTheImportGraphFollowsTheArchitecture(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "boxmail/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, "boxmail/")
		if name == "test" {
			continue
		}
		allow, known := allowed[name]
		if strings.HasPrefix(name, "bench/") { // benchmark tools read the store
			allow, known = []string{"store"}, true
		}
		if !known {
			t.Errorf("package %s is not in the architecture's allow-list; add it there and to the package table of docs/architecture.md", name)
			continue
		}
		for _, imp := range p.Imports {
			dep, ok := strings.CutPrefix(imp, "boxmail/internal/")
			if !ok {
				continue
			}
			if dep == "config" && name != "cmd/boxmail" {
				t.Errorf("%s imports config; only cmd/boxmail may", name)
			}
			if (dep == "testutil" || strings.HasPrefix(dep, "testutil/")) && !strings.HasPrefix(name, "internal/testutil") {
				t.Errorf("%s imports testutil outside tests", name)
			}
			if !slices.Contains(allow, "*") && !slices.Contains(allow, dep) {
				t.Errorf("%s imports internal/%s, which the architecture does not allow", name, dep)
			}
		}
	}
}
