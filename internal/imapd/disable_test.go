package imapd

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The change feed tells of a disabling: the sessions of the account get
// BYE at once, not at the next periodic check (an hour here), whether
// idling in a mailbox, idling before any SELECT or running commands.
func TestADisablingOnTheChangeFeedClosesTheSessionsAtOnce(t *testing.T) {
	ts := startServer(t, Options{InsecureAuth: true, OpenCheckEvery: time.Hour})
	a := ts.account(t, "gran@example.test")
	idler, unselected, busy := dialRaw(t, ts.addr), dialRaw(t, ts.addr), dialRaw(t, ts.addr)
	for _, c := range []*rawConn{idler, unselected, busy} {
		c.send("a1 LOGIN gran@example.test \"" + password + "\"\r\n")
		c.until("a1 OK")
	}
	idler.send("a2 SELECT INBOX\r\na3 IDLE\r\n")
	idler.until("+ ")
	unselected.send("a3 IDLE\r\n")
	unselected.until("+ ")
	if err := ts.store.SetAccountDisabled(context.Background(), a.Email, true); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for name, c := range map[string]*rawConn{"idling": idler, "idling unselected": unselected} {
		if l := c.until("* BYE"); !strings.Contains(l[len(l)-1], "disabled") {
			t.Errorf("%s session: %q", name, l)
		}
	}
	busy.send("b1 NOOP\r\n")
	if l := busy.until("* BYE"); !strings.Contains(l[len(l)-1], "disabled") {
		t.Errorf("busy session: %q", l)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("BYE after %v", d)
	}
}
