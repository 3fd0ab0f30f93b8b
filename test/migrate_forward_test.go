package test

import (
	"strings"
	"testing"
)

// The migration checklist sees a forward-and-keep rule however it was
// made: here by the admin's command.
func TestTheMigrationChecklistSeesForwardAndKeepRules(t *testing.T) {
	b := newBox(t)
	out := mustRun(t, "", "migrate", "status", "--dir", b.Dir, "--timeout", "300ms")
	if strings.Contains(out, "forwards to") {
		t.Fatalf("a rule reported before there is one:\n%s", out)
	}
	mustRun(t, "", "forward", "add", b.Admin, "--to", "me@oldmail.example", "--keep", "--dir", b.Dir)
	out = mustRun(t, "", "migrate", "status", "--dir", b.Dir, "--timeout", "300ms")
	if !strings.Contains(out, "me@example.test forwards to me@oldmail.example") {
		t.Errorf("migrate status does not show the forward rule:\n%s", out)
	}
	mustRun(t, "", "forward", "disable", b.Admin, "--dir", b.Dir)
	if out = mustRun(t, "", "migrate", "status", "--dir", b.Dir, "--timeout", "300ms"); strings.Contains(out, "forwards to") {
		t.Errorf("a disabled rule still counts:\n%s", out)
	}
}
