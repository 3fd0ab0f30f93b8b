package admin

import (
	"context"
	"strings"
	"testing"

	"boxmail/internal/store"
)

// A contacts import after the mail import shows in step 8's detail and
// does not hide the mail import's outcome.
func TestMigrationShowsContactsImportsBesideMail(t *testing.T) {
	s, st := switchedWorld(t)
	ctx := context.Background()
	importRun(t, st, "a@example.net", true)
	acc, err := st.AccountByEmail(ctx, "a@example.net")
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.StartImportRun(ctx, acc.ID, store.ImportSourceContacts+"https://old.example/dav/")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.FinishImportRun(ctx, store.ImportRun{ID: id, Verified: true, Copied: 12}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StartImportRun(ctx, acc.ID, store.ImportSourceCalendar+"https://old.example/dav/"); err != nil {
		t.Fatal(err)
	}
	detail := strings.Join(migrationSteps(t, s)[7].Detail, "\n")
	for _, want := range []string{
		"a@example.net: done",
		"a@example.net: contacts imported",
		"from https://old.example/dav/ (12 objects copied",
		"a@example.net: calendars import from https://old.example/dav/ interrupted",
	} {
		if !strings.Contains(detail, want) {
			t.Errorf("step 8 lacks %q:\n%s", want, detail)
		}
	}
}
