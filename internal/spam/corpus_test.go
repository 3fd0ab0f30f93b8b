package spam

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestCorpus trains on SPAM_CORPUS/train-{spam,ham} and reports where the
// messages of SPAM_CORPUS/test-{spam,ham} land, per group (the file
// names end in .GROUP): the classifier alone, without the product's paths
// (bench/spam-corpus.sh runs those). Skipped unless SPAM_CORPUS is set.
func TestCorpus(t *testing.T) {
	dir := os.Getenv("SPAM_CORPUS")
	if dir == "" {
		t.Skip("SPAM_CORPUS not set")
	}
	read := func(sub string) map[string][]byte {
		out := map[string][]byte{}
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = b
		}
		return out
	}
	m := NewModel()
	d := NewDelta()
	for _, b := range read("train-spam") {
		d.Train(Parse(b, ""), true, 1)
	}
	for _, b := range read("train-ham") {
		d.Train(Parse(b, ""), false, 1)
	}
	m.Apply(d)
	t.Logf("model: %d spam, %d ham, %d tokens", m.Spam, m.Ham, len(m.Tokens))
	type stat struct{ n, junk int }
	stats := map[string]*stat{}
	var scores []float64
	for _, sub := range []string{"test-spam", "test-ham"} {
		for name, b := range read(sub) {
			g := name[strings.IndexByte(name, '.')+1:]
			if stats[g] == nil {
				stats[g] = &stat{}
			}
			r := Score(Parse(b, ""), m, nil, Thresholds{})
			stats[g].n++
			if r.Verdict != Inbox {
				stats[g].junk++
			}
			if sub == "test-spam" {
				scores = append(scores, r.Score)
			}
		}
	}
	for g, s := range stats {
		t.Logf("%s: %d of %d in Junk (%.2f%%)", g, s.junk, s.n, 100*float64(s.junk)/float64(s.n))
	}
	sort.Float64s(scores)
	t.Logf("spam score deciles: %.1f %.1f %.1f %.1f %.1f", scores[len(scores)/10], scores[len(scores)/5], scores[len(scores)*3/10], scores[len(scores)/2], scores[len(scores)*9/10])
}
