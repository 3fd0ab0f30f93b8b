package store

import (
	"context"
	"testing"
	"time"
)

// A report resent by its sender is kept once; the list is by period.
func TestReceivedReportsKeptOnce(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	day := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	r := ReceivedReport{Kind: "dmarc", Org: "google.com", ReportID: "1", Domain: "example.org", Begin: day, End: day.Add(24 * time.Hour), Data: []byte(`{}`)}
	for i, want := range []bool{true, false} {
		if added, err := s.AddReceivedReport(ctx, r); err != nil || added != want {
			t.Fatalf("add %d: %v %v", i, added, err)
		}
	}
	old := r
	old.ReportID, old.Begin, old.End = "0", day.Add(-30*24*time.Hour), day.Add(-29*24*time.Hour)
	if _, err := s.AddReceivedReport(ctx, old); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReceivedReports(ctx, "dmarc", day.Add(-7*24*time.Hour))
	if err != nil || len(got) != 1 || got[0].ReportID != "1" || !got[0].End.Equal(r.End) || string(got[0].Data) != "{}" {
		t.Fatalf("%+v %v", got, err)
	}
	if got, _ := s.ReceivedReports(ctx, "tlsrpt", time.Time{}); len(got) != 0 {
		t.Fatalf("tls reports %+v", got)
	}
}
