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
	var hamScores, hardScores []float64
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
			switch {
			case sub == "test-spam":
				scores = append(scores, r.Score)
			case g == "hard-ham-1":
				hardScores = append(hardScores, r.Score)
				hamScores = append(hamScores, r.Score)
			default:
				hamScores = append(hamScores, r.Score)
			}
			if os.Getenv("SPAM_CORPUS_VERBOSE") != "" && (sub == "test-spam") != (r.Verdict != Inbox) {
				t.Logf("wrong: %s/%s score %.2f %v", sub, name, r.Score, r.Reasons)
			}
		}
	}
	for g, s := range stats {
		t.Logf("%s: %d of %d in Junk (%.2f%%)", g, s.junk, s.n, 100*float64(s.junk)/float64(s.n))
	}
	sort.Float64s(scores)
	// The trade-off: per junk threshold, spam caught and ham in Junk.
	atOrAbove := func(l []float64, th float64) int {
		n := 0
		for _, x := range l {
			if x >= th {
				n++
			}
		}
		return n
	}
	for _, lim := range []int{2, 5, 10} {
		best, bth := 0.0, 0.0
		for th := 0.0; th <= 15; th += 0.1 {
			if atOrAbove(hardScores, th) <= lim && atOrAbove(hamScores, th)-atOrAbove(hardScores, th) <= 2 {
				if s := 100 * float64(atOrAbove(scores, th)) / float64(len(scores)); s > best {
					best, bth = s, th
				}
			}
		}
		t.Logf("best with hard ham <= %d: threshold %.1f, spam %.2f%%", lim, bth, best)
	}
	for th := 2.0; th <= 12 && os.Getenv("SPAM_CORPUS_VERBOSE") != ""; th += 0.5 {
		t.Logf("threshold %.1f: spam %.2f%%, ham %d of %d, hard ham %d of %d", th, 100*float64(atOrAbove(scores, th))/float64(len(scores)),
			atOrAbove(hamScores, th), len(hamScores), atOrAbove(hardScores, th), len(hardScores))
	}
	t.Logf("spam score deciles: %.1f %.1f %.1f %.1f %.1f", scores[len(scores)/10], scores[len(scores)/5], scores[len(scores)*3/10], scores[len(scores)/2], scores[len(scores)*9/10])
}
