package admin

import (
	"fmt"
	"strings"

	"boxmail/internal/store"
)

// davImportDetail says, for step 8 of the checklist, how the account's
// last contacts and calendar imports went ('migrate import --carddav,
// --caldav, --vcf, --ics'); nothing when there was none. They do not
// decide the step: an old provider may have had no contacts to move.
func davImportDetail(email string, runs []store.ImportRun) []string {
	var out []string
	for _, k := range []struct{ prefix, what string }{{store.ImportSourceContacts, "contacts"}, {store.ImportSourceCalendar, "calendars"}} {
		var last *store.ImportRun
		for i := range runs {
			if strings.HasPrefix(runs[i].Source, k.prefix) {
				last = &runs[i]
			}
		}
		if last == nil {
			continue
		}
		from := strings.TrimPrefix(last.Source, k.prefix)
		switch {
		case last.Verified:
			out = append(out, fmt.Sprintf("%s: %s imported %s from %s (%d objects copied, %d already present)",
				email, k.what, last.Finished.Format("2006-01-02 15:04"), from, last.Copied, last.Present))
		case last.Finished.IsZero():
			out = append(out, fmt.Sprintf("%s: %s import from %s interrupted or running since %s: run it again to finish",
				email, k.what, from, last.Started.Format("2006-01-02 15:04")))
		default:
			out = append(out, fmt.Sprintf("%s: %s import from %s not complete on %s (%d objects copied, %d failed): run it again",
				email, k.what, from, last.Finished.Format("2006-01-02 15:04"), last.Copied, last.Failed))
		}
	}
	return out
}
