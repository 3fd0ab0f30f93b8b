package test

import (
	"strings"
	"testing"
)

// Header and CRLF injection through what an admin or user types: every
// such field is refused with one clear line, and nothing is stored.
func TestTypedTextCannotInjectHeaders(t *testing.T) {
	b := newBox(t)
	body := writeTemp(t, "I am away.")
	d := []string{"--dir", b.Dir}
	oneLineError(t, "one line of text", "", append([]string{"vacation", b.Admin, "--subject", "Away\r\nBcc: victim@evil.example", "--body-file", body}, d...)...)
	oneLineError(t, "not allowed in local part", "", append([]string{"forward", "add", b.Admin, "--to", "old@x.example\r\nBcc: v@evil.example"}, d...)...)
	oneLineError(t, "one line", "", append([]string{"forward", "add", b.Admin, "--to", "old@x.example", "--name", "Rule\nredirect \"evil@evil.example\";"}, d...)...)
	oneLineError(t, "not allowed in local part", "kid-password-77\n", append([]string{"user", "add", "kid\r\nBcc: x@example.test"}, d...)...)
	oneLineError(t, "not allowed in local part|has no @domain", "", append([]string{"alias", "add", "team\n@example.test", b.Admin}, d...)...)
	if out := mustRun(t, "", append([]string{"forward", "list", b.Admin}, d...)...); strings.Contains(out, "evil") {
		t.Errorf("an injected rule was stored:\n%s", out)
	}
}
