package spam

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestCorpus trains on SPAM_CORPUS/train-{spam,ham} and reports where the
// messages of SPAM_CORPUS/test-{spam,ham} land, per group (the file
// names end in .GROUP): the classifier alone, without the product's paths
// (bench/spam-corpus.sh runs those). Skipped unless SPAM_CORPUS is set.
// Training is in the benchmark's order (all ham, then all spam: the ham
// read, then the spam moved to Junk), or with SPAM_CORPUS_ORDER=mixed a
// spam after every 5 ham. SPAM_CORPUS_DUMP=FILE writes one line per test
// message: group, file, Bayes p, clues, the spam and ham chi-square
// statistics, score, linear margin. SPAM_CORPUS_PASSES=N trains the
// linear model N times over the training set (train until learned);
// with SPAM_CORPUS_TONE=THICK the passes after the first train the
// counts again on each message scored on the wrong side of the junk
// threshold or within THICK points of it instead.
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
	m := trainCorpus(read("train-ham"), read("train-spam"), os.Getenv("SPAM_CORPUS_ORDER") == "mixed")
	weights := 0
	for _, w := range m.W {
		if w != 0 {
			weights++
		}
	}
	t.Logf("model: %d spam, %d ham, %d tokens, %d linear weights set", m.Spam, m.Ham, len(m.Tokens), weights)
	var dump *os.File
	if fn := os.Getenv("SPAM_CORPUS_DUMP"); fn != "" {
		var err error
		if dump, err = os.Create(fn); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := dump.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
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
			f := Parse(b, "")
			r := Score(f, m, nil, Thresholds{})
			if dump != nil {
				if err := dumpScore(dump, g+" "+name, m, f, r); err != nil {
					t.Fatal(err)
				}
			}
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
		for th := -15.0; th <= 15; th += 0.1 {
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

func sortedKeys(m map[string][]byte) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// trainCorpus trains a model on the training messages in the benchmark's
// order (every ham, then every spam, each by file name) or mixed.
func trainCorpus(trainHam, trainSpam map[string][]byte, mixed bool) *Model {
	type ex struct {
		f    *Features
		spam bool
	}
	var hams, spams []ex
	for _, name := range sortedKeys(trainHam) {
		hams = append(hams, ex{Parse(trainHam[name], ""), false})
	}
	for _, name := range sortedKeys(trainSpam) {
		spams = append(spams, ex{Parse(trainSpam[name], ""), true})
	}
	order := append(hams, spams...)
	if mixed {
		order = nil
		step := max(len(hams)/max(len(spams), 1), 1)
		j := 0
		for i, h := range hams {
			order = append(order, h)
			if i%step == step-1 && j < len(spams) {
				order = append(order, spams[j])
				j++
			}
		}
		order = append(order, spams[j:]...)
	}
	m := NewModel()
	d := NewDelta()
	for _, e := range order {
		d.Train(e.f, e.spam, 1)
		d.TrainLinear(m, e.f, e.spam)
	}
	m.Apply(d)
	passes, _ := strconv.Atoi(os.Getenv("SPAM_CORPUS_PASSES"))
	for pass := 1; pass < passes; pass++ {
		d := NewDelta()
		errs := 0
		for _, e := range order {
			if os.Getenv("SPAM_CORPUS_TONE") != "" {
				r := Score(e.f, m, nil, Thresholds{})
				thick := 0.0
				if v, err := strconv.ParseFloat(os.Getenv("SPAM_CORPUS_TONE"), 64); err == nil {
					thick = v
				}
				if e.spam && r.Score < DefaultJunk+thick || !e.spam && r.Score >= DefaultJunk-thick {
					d.Train(e.f, e.spam, 1)
					errs++
				}
				continue
			}
			d.TrainLinear(m, e.f, e.spam)
		}
		m.Apply(d)
		fmt.Fprintf(os.Stderr, "pass %d: %d retrained, %d weights changed\n", pass+1, errs, len(d.Weights))
	}
	return m
}

// dumpScore writes one test message's line of SPAM_CORPUS_DUMP.
func dumpScore(w *os.File, name string, m *Model, f *Features, r Result) error {
	p, clues := m.Bayes(f.Tokens)
	var lnS, lnH float64
	for _, c := range clues {
		q := min(max(c.Prob, 1e-6), 1-1e-6)
		lnS += math.Log(1 - q)
		lnH += math.Log(q)
	}
	var bp, lp float64
	for _, x := range r.Reasons {
		switch x.Name {
		case "bayes":
			bp = x.Points
		case "linear":
			lp = x.Points
		}
	}
	_, err := fmt.Fprintf(w, "%s %.4f %d %.2f %.2f %.3f %.4f %.2f %.2f %.4f\n", name, p, len(clues), -2*lnS, -2*lnH, r.Score, m.Linear(f.Tokens), bp, lp, geometric(clues))
	return err
}
