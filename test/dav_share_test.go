package test

// Shared contacts and calendars (issue 20) against the real binary: an
// admin makes a family calendar with 'boxmail dav share' and grants it,
// and Debian's python3-caldav, as each account, finds it (or not) and
// reads or writes it by its access.

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDAVSharedFamilyCalendarWithPythonCaldav(t *testing.T) {
	py := davPython(t)
	b := newBox(t)
	mustRun(t, "", "user", "add", "kid@example.test", "--dir", b.Dir, "--password-file", writeTemp(t, "kid-password-77"))
	mustRun(t, "", "user", "add", "gran@example.test", "--dir", b.Dir, "--password-file", writeTemp(t, "gran-password-77"))
	url := fmt.Sprintf("https://127.0.0.1:%d/dav/", b.HTTPS)
	caldav := func(user, pass, mode string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, py, filepath.Join("clients", "dav_share.py"), url, user, pass, mode).CombinedOutput()
		if err != nil {
			t.Fatalf("dav_share.py %s %s: %v\n%s", user, mode, err, out)
		}
		return string(out)
	}
	out := mustRun(t, "", "dav", "share", "create", b.Admin, "calendars", "family", "--display", "Family", "--dir", b.Dir)
	if !strings.Contains(out, "calendars/family") {
		t.Fatalf("dav share create: %s", out)
	}
	caldav(b.Admin, b.Password, "owner")
	caldav("kid@example.test", "kid-password-77", "gone")
	mustRun(t, "", "dav", "share", "grant", b.Admin, "calendars", "family", "kid@example.test", "--dir", b.Dir)
	mustRun(t, "", "dav", "share", "grant", b.Admin, "calendars", "family", "gran@example.test", "--write", "--dir", b.Dir)
	if out := caldav("kid@example.test", "kid-password-77", "reader"); !strings.Contains(out, "refused") {
		t.Errorf("kid, read-only:\n%s", out)
	}
	if out := caldav("gran@example.test", "gran-password-77", "writer"); !strings.Contains(out, "saved") {
		t.Errorf("gran, read/write:\n%s", out)
	}
	list := mustRun(t, "", "dav", "share", "list", "--dir", b.Dir)
	if !strings.Contains(list, "kid@example.test") || !strings.Contains(list, "gran@example.test") || !strings.Contains(list, "read/write") {
		t.Errorf("dav share list:\n%s", list)
	}
	c := newDAVClient(t, b, "127.0.0.1")
	if code, body, _ := c.do(b.Admin, b.Password, "GET", "/dav/me@example.test/calendars/family/writer@family.ics", ""); code != 200 || !strings.Contains(body, "From gran@example.test") {
		t.Errorf("gran's event in the owner's calendar: %d %s", code, body)
	}
	mustRun(t, "", "dav", "share", "revoke", b.Admin, "calendars", "family", "kid@example.test", "--dir", b.Dir)
	caldav("kid@example.test", "kid-password-77", "gone")
	if _, errOut, code := b.Cmd("", "dav", "share", "grant", b.Admin, "calendars", "nope", "kid@example.test", "--dir", b.Dir); code == 0 || !strings.Contains(errOut, "not found") {
		t.Errorf("granting a calendar that does not exist: %d %s", code, errOut)
	}
}
