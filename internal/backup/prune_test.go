package backup

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"
)

func TestRetentionKeepsTheNewestOfEachPeriod(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 1, 1, 3, 30, 0, 0, time.UTC).AddDate(0, 0, d) }
	var snaps []Snapshot
	for d := range 90 { // one a day, two on the last day
		snaps = append(snaps, Snapshot{ID: fmt.Sprintf("s%03d", d), Time: day(d)})
	}
	snaps = append(snaps, Snapshot{ID: "s089b", Time: day(89).Add(time.Hour)})
	for _, c := range []struct {
		r    Retention
		want []string
	}{
		{Retention{}, nil}, // everything
		{Retention{Daily: 3}, []string{"s087", "s088", "s089b"}},
		{Retention{Daily: 1, Monthly: 3}, []string{"s030", "s058", "s089b"}},
		{Retention{Weekly: 2}, []string{"s087", "s089b"}}, // ISO weeks: Sunday 2026-03-29 ends the one before
	} {
		kept := c.r.Kept(snaps)
		var got []string
		for id := range kept {
			got = append(got, id)
		}
		sort.Strings(got)
		if c.want == nil {
			if len(got) != len(snaps) {
				t.Errorf("%+v kept %d of %d", c.r, len(got), len(snaps))
			}
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%+v kept %v, want %v", c.r, got, c.want)
		}
	}
}

func TestPruneNeverRemovesWhatAKeptSnapshotNeeds(t *testing.T) {
	ctx := context.Background()
	b := newTestBox(t)
	s, tg, ids := b.setUp(t)
	first := b.run(t, s, tg)
	b.deliver(t, 9000)
	b.run(t, s, tg)
	// An unfinished run's leftovers: an object and a .names without manifest.
	if err := tg.Put(ctx, objectPath("00"+fmt.Sprint(time.Now().UnixNano())), []byte("orphan")); err != nil {
		t.Fatal(err)
	}
	if err := tg.Put(ctx, namesPath("20000101T000000.000Z-dead"), []byte("mac 00\n")); err != nil {
		t.Fatal(err)
	}
	b.deliver(t, 12000)
	keepOne := Retention{Daily: 1} // all three runs are today: only the newest stays
	last, err := Run(ctx, RunOptions{Dir: b.dir, Store: b.st, Settings: s, Target: tg, Keep: &keepOne})
	if err != nil {
		t.Fatal(err)
	}
	if last.Pruned != 2 || last.ObjectsPruned == 0 {
		t.Errorf("run = %+v", last)
	}
	snaps, err := List(ctx, tg)
	if err != nil || len(snaps) != 1 || snaps[0].ID != last.ID {
		t.Fatalf("left %v, %v", snaps, err)
	}
	names, err := tg.List(ctx, "snapshots/")
	if err != nil || len(names) != 2 {
		t.Errorf("snapshots/ holds %v", names)
	}
	if _, err := Verify(ctx, VerifyOptions{Target: tg, NameKey: s.NameKey, Full: true, Identities: ids}); err != nil {
		t.Fatal(err)
	}
	objs, _ := tg.List(ctx, "objects/")
	if len(objs) != last.Objects {
		t.Errorf("%d objects left, the kept snapshot needs %d", len(objs), last.Objects)
	}
	if _, err := ReadManifest(ctx, tg, first.ID, ids); err == nil {
		t.Error("the pruned snapshot's manifest is still there")
	}
}

func TestPruneLeavesObjectsWhileAnotherBoxRuns(t *testing.T) {
	ctx := context.Background()
	b := newTestBox(t)
	s, tg, _ := b.setUp(t)
	b.run(t, s, tg)
	orphan := objectPath("ff" + fmt.Sprint(time.Now().UnixNano()))
	if err := tg.Put(ctx, orphan, []byte("another box's new object")); err != nil {
		t.Fatal(err)
	}
	if err := tg.Put(ctx, runLockPath("other"), []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		t.Fatal(err)
	}
	keep := Retention{Daily: 1}
	if _, err := Run(ctx, RunOptions{Dir: b.dir, Store: b.st, Settings: s, Target: tg, Keep: &keep}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := tg.Has(ctx, orphan); !ok {
		t.Error("an object of another box's run in progress was swept")
	}
	if locks, _ := tg.List(ctx, "runs/"); len(locks) != 1 {
		t.Errorf("runs/ holds %v, want only the other box's", locks)
	}
	// A day-old announcement (a killed run) no longer holds the sweep back.
	if err := tg.Put(ctx, runLockPath("other"), []byte(time.Now().Add(-25*time.Hour).UTC().Format(time.RFC3339))); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, RunOptions{Dir: b.dir, Store: b.st, Settings: s, Target: tg, Keep: &keep}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := tg.Has(ctx, orphan); ok {
		t.Error("an orphan object outlived a stale announcement")
	}
}
