package backup

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// Retention says which snapshots a prune keeps: the newest snapshot of
// each of the last Daily days, Weekly ISO weeks, Monthly months and
// Yearly years that have one (as restic's forget --keep-daily etc.).
// The newest snapshot is always kept; all zero keeps everything.
type Retention struct{ Daily, Weekly, Monthly, Yearly int }

// Kept returns the IDs of the snapshots r keeps (snaps oldest first, as
// List returns them). A snapshot whose time is unknown is kept.
func (r Retention) Kept(snaps []Snapshot) map[string]bool {
	keep := map[string]bool{}
	if len(snaps) == 0 {
		return keep
	}
	keep[snaps[len(snaps)-1].ID] = true
	if r == (Retention{}) {
		for _, s := range snaps {
			keep[s.ID] = true
		}
		return keep
	}
	for _, rule := range []struct {
		n      int
		bucket func(t time.Time) string
	}{
		{r.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
		{r.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
		{r.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
		{r.Yearly, func(t time.Time) string { return t.Format("2006") }},
	} {
		seen := map[string]bool{}
		for i := len(snaps) - 1; i >= 0 && len(seen) < rule.n; i-- {
			b := rule.bucket(snaps[i].Time)
			if !seen[b] {
				seen[b] = true
				keep[snaps[i].ID] = true
			}
		}
	}
	for _, s := range snaps {
		if s.Time.IsZero() {
			keep[s.ID] = true
		}
	}
	return keep
}

// PruneResult tells what a prune removed.
type PruneResult struct {
	Kept, Removed  int // snapshots
	ObjectsRemoved int
}

// Prune removes the snapshots r does not keep, then every object no kept
// snapshot needs (mark and sweep: the marks come from the kept
// snapshots' .names files, MAC-checked with the name key; if one cannot
// be read, nothing is removed). A run in progress has objects in no
// .names file yet: this box's runs are kept apart by the run lock (Run
// prunes under it), and another box's (a restored copy writing to the
// same target) announce themselves under runs/, which holds the sweep of
// objects back for a day.
func Prune(ctx context.Context, t Target, nameKey string, r Retention) (PruneResult, error) {
	return prune(ctx, t, nameKey, r, "")
}

// runLockPath is where a run announces itself in the target while it
// uploads (its content: the start time).
func runLockPath(id string) string { return "runs/" + id }

// runLockAge is how long a run's announcement holds back the sweep of
// objects; one left by a killed run stops mattering after it.
const runLockAge = 24 * time.Hour

// otherRuns tells whether a run other than self (another box writing to
// the same target) announced itself in the last runLockAge.
func otherRuns(ctx context.Context, t Target, self string) (bool, error) {
	locks, err := t.List(ctx, "runs/")
	if err != nil {
		return false, err
	}
	for _, l := range locks {
		if l == runLockPath(self) {
			continue
		}
		data, err := t.Get(ctx, l)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		started, err := time.Parse(time.RFC3339, strings.TrimSpace(string(data)))
		if err != nil || time.Since(started) < runLockAge {
			return true, nil
		}
	}
	return false, nil
}

func prune(ctx context.Context, t Target, nameKey string, r Retention, self string) (PruneResult, error) {
	var res PruneResult
	key, err := hex.DecodeString(nameKey)
	if err != nil || len(key) == 0 {
		return res, errors.New("prune needs the name key")
	}
	snaps, err := List(ctx, t)
	if err != nil {
		return res, err
	}
	keep := r.Kept(snaps)
	marked := map[string]bool{}
	for id := range keep {
		names, err := readNames(ctx, t, id, key)
		if err != nil {
			return res, fmt.Errorf("not pruning: %w", err)
		}
		for n := range names {
			marked[n] = true
		}
	}
	res.Kept = len(keep)
	for _, s := range snaps { // manifests first: no snapshot ever lacks objects
		if !keep[s.ID] {
			if err := t.Delete(ctx, manifestPath(s.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return res, err
			}
			res.Removed++
		}
	}
	if err := t.Sync(ctx); err != nil {
		return res, err
	}
	lists, err := t.List(ctx, "snapshots/")
	if err != nil {
		return res, err
	}
	for _, n := range lists { // .names of removed and of unfinished snapshots
		id, ok := strings.CutSuffix(strings.TrimPrefix(n, "snapshots/"), ".names")
		if ok && !keep[id] {
			if err := t.Delete(ctx, n); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return res, err
			}
		}
	}
	if busy, err := otherRuns(ctx, t, self); err != nil || busy {
		// Another run's objects are in no .names file yet: sweep later.
		return res, errors.Join(err, t.Sync(ctx))
	}
	objs, err := t.List(ctx, "objects/")
	if err != nil {
		return res, err
	}
	for _, n := range objs {
		if !marked[n[strings.LastIndexByte(n, '/')+1:]] {
			if err := t.Delete(ctx, n); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return res, err
			}
			res.ObjectsRemoved++
		}
	}
	return res, t.Sync(ctx)
}
