package webmail

import (
	"fmt"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
)

// BenchmarkSearch20000 is the server time of searches over a
// 20,000-message folder (issue 19: at most 300 ms): a sender (few hits),
// a subject word every message has (stops at maxResults), unread, a word
// in no subject (the whole folder's header table, nothing to load), and
// a body word found in no message (the walk stops at bodySearchTime).
func BenchmarkSearch20000(b *testing.B) {
	s, mb, _ := benchFolder(b, 20000)
	for _, c := range []struct{ name, query string }{
		{"from", "q=friend13%40example.org&in=from"},
		{"subject-all-match", "q=message&in=subject"},
		{"subject-none", "q=nowhere&in=subject&in=from"},
		{"unread", "unread=1"},
		{"date-range", "since=2026-01-01&until=2026-01-02"},
		{"body-none", "q=nowhere&in=body"},
		{"body-newest", "q=family&in=body"},
	} {
		path := fmt.Sprintf("/mail/search?box=%d&%s", mb.ID, c.query)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				s.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
				if m := scannedRe.FindStringSubmatch(w.Body.String()); m != nil {
					n, _ := strconv.Atoi(m[1])
					b.ReportMetric(float64(n), "bodies-searched")
				}
			}
		})
	}
}

var scannedRe = regexp.MustCompile(`after the newest (\d+) of`)
