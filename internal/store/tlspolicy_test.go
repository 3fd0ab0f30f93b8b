package store

import (
	"context"
	"testing"
	"time"
)

func TestTheMTASTSCacheAndTheTLSResultCounts(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	if _, ok, err := s.MTASTSPolicy(ctx, "example.org"); ok || err != nil {
		t.Fatalf("empty cache: %v %v", ok, err)
	}
	now := time.Unix(1_800_000_000, 0)
	for _, id := range []string{"1", "2"} {
		if err := s.PutMTASTSPolicy(ctx, MTASTSPolicy{Domain: "example.org", ID: id, Text: "version: STSv1", Fetched: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	p, ok, err := s.MTASTSPolicy(ctx, "example.org")
	if !ok || err != nil || p.ID != "2" || !p.Expires.Equal(now.Add(time.Hour)) {
		t.Errorf("cached %+v %v %v", p, ok, err)
	}
	if err := s.DeleteMTASTSPolicy(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.MTASTSPolicy(ctx, "example.org"); ok {
		t.Error("deleted policy still cached")
	}

	r := TLSResult{Domain: "example.org", PolicyType: "sts", MXHost: "mx.example.org", Result: "success"}
	for range 3 {
		if err := s.AddTLSResult(ctx, now, r); err != nil {
			t.Fatal(err)
		}
	}
	r.Result, r.Detail = "certificate-expired", "expired"
	if err := s.AddTLSResult(ctx, now, r); err != nil {
		t.Fatal(err)
	}
	day := now.UTC().Format(time.DateOnly)
	got, err := s.TLSResults(ctx, day, day)
	if err != nil || len(got) != 2 || got[0].Result != "certificate-expired" || got[0].Count != 1 || got[1].Count != 3 {
		t.Errorf("results %+v %v", got, err)
	}
	if err := s.DeleteTLSResults(ctx, day, "example.org"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.TLSResults(ctx, day, day); len(got) != 0 {
		t.Errorf("after delete: %+v", got)
	}
}
