package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestACMEChallengesAreSharedAndEnd: a DNS-01 record one node adds is
// listed on the other (with a generation bump, so its DNS server
// reloads), until it is removed or its time is over.
func TestACMEChallengesAreSharedAndEnd(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t)
	gen0, err := b.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	name := "_acme-challenge.mail.example.test."
	if err := a.AddACMEChallenge(ctx, "_ACME-challenge.Mail.example.test.", "v1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.AddACMEChallenge(ctx, name, "v2", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, err := b.ACMEChallenges(ctx, now); err != nil || !slices.Equal(got[name], []string{"v1", "v2"}) {
		t.Fatalf("node b lists %v, %v", got, err)
	}
	if gen, _ := b.Generation(ctx); gen < gen0+2 {
		t.Errorf("generation %d after two records, %d before", gen, gen0)
	}
	if got, _ := b.ACMEChallenges(ctx, now.Add(2*time.Minute)); !slices.Equal(got[name], []string{"v1"}) {
		t.Errorf("after v2's time: %v", got)
	}
	if err := b.RemoveACMEChallenge(ctx, name, "v1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.ACMEChallenges(ctx, now); !slices.Equal(got[name], []string{"v2"}) {
		t.Errorf("after removing v1: %v", got)
	}
}
