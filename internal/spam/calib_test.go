package spam

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCalibration measures a combination of the classifiers' outputs
// learned on the training set only: the training set is cut into folds,
// each fold scored by a model trained on the others (in the benchmark's
// order), and a logistic regression fitted to those held-out outputs;
// the test set is then scored by the model of the whole training set
// through that regression. Skipped unless SPAM_CORPUS and
// SPAM_CORPUS_CALIB are set: 1 for the outputs as they are (Bayes p and
// geometric probability, linear margin, log of the clue count, the other
// reasons' points), logit for the probabilities as log-odds.
// SPAM_CORPUS_CALIB_HARD=W weighs the training set's hard ham W times;
// SPAM_CORPUS_CALIB_BYSENDER=1 cuts the folds by the author's
// organisational domain (a held-out sender is a first-time sender, as
// the test set's newsletters are), not by position.
func TestCalibration(t *testing.T) {
	dir := os.Getenv("SPAM_CORPUS")
	if dir == "" || os.Getenv("SPAM_CORPUS_CALIB") == "" {
		t.Skip("SPAM_CORPUS or SPAM_CORPUS_CALIB not set")
	}
	type ex struct {
		f     *Features
		spam  bool
		group string
	}
	read := func(sub string, spam bool) []ex {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		var out []ex
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ex{Parse(b, ""), spam, e.Name()[strings.IndexByte(e.Name(), '.')+1:]})
		}
		return out
	}
	trainHam, trainSpam := read("train-ham", false), read("train-spam", true)
	train := func(hams, spams []ex) *Model {
		m := NewModel()
		d := NewDelta()
		for _, e := range append(append([]ex(nil), hams...), spams...) {
			d.Train(e.f, e.spam, 1)
			d.TrainLinear(m, e.f, e.spam)
		}
		m.Apply(d)
		return m
	}
	const folds = 5
	var X [][]float64
	var Y, W []float64
	hardW, _ := strconv.ParseFloat(os.Getenv("SPAM_CORPUS_CALIB_HARD"), 64)
	for k := 0; k < folds; k++ {
		var hIn, sIn, out []ex
		fold := func(i int, e ex) int {
			if os.Getenv("SPAM_CORPUS_CALIB_BYSENDER") != "" {
				return int(Hash(e.f.OrgDomain) % folds)
			}
			return i % folds
		}
		for i, e := range trainHam {
			if fold(i, e) == k {
				out = append(out, e)
			} else {
				hIn = append(hIn, e)
			}
		}
		for i, e := range trainSpam {
			if fold(i, e) == k {
				out = append(out, e)
			} else {
				sIn = append(sIn, e)
			}
		}
		m := train(hIn, sIn)
		for _, e := range out {
			X = append(X, calibFeatures(m, e.f))
			y := 0.0
			if e.spam {
				y = 1
			}
			Y = append(Y, y)
			if e.group == "hard-ham-1" && hardW > 0 {
				W = append(W, hardW)
			} else {
				W = append(W, 1)
			}
		}
	}
	w := fitLogistic(X, Y, W, 1e-3)
	t.Logf("weights: %.3f", w)
	m := train(trainHam, trainSpam)
	var spamS, hamS, hardS, baseSpam, baseHam, baseHard []float64
	for _, e := range append(read("test-spam", true), read("test-ham", false)...) {
		x := calibFeatures(m, e.f)
		s := dot(w, x)
		b := Score(e.f, m, nil, Thresholds{}).Score
		switch {
		case e.spam:
			spamS, baseSpam = append(spamS, s), append(baseSpam, b)
		case e.group == "hard-ham-1":
			hardS, baseHard = append(hardS, s), append(baseHard, b)
		default:
			hamS, baseHam = append(hamS, s), append(baseHam, b)
		}
	}
	t.Logf("score now: %s", curve(baseSpam, baseHam, baseHard))
	t.Logf("calibrated: %s", curve(spamS, hamS, hardS))
}

// calibFeatures are the classifiers' outputs a calibration combines.
func calibFeatures(m *Model, f *Features) []float64 {
	p, clues := m.Bayes(f.Tokens)
	g := geometric(clues)
	r := Score(f, m, nil, Thresholds{})
	var rest float64
	for _, x := range r.Reasons {
		if x.Name != "bayes" && x.Name != "linear" {
			rest += x.Points
		}
	}
	margin := m.Linear(f.Tokens)
	x := []float64{1, p - 0.5, g - 0.5, margin, math.Log1p(float64(len(clues))) - 3, rest}
	if os.Getenv("SPAM_CORPUS_CALIB") == "logit" {
		lg := func(q float64) float64 { q = min(max(q, 1e-4), 1-1e-4); return math.Log(q / (1 - q)) }
		x = []float64{1, lg(p) / 10, lg(g), margin, math.Log1p(float64(len(clues))) - 3, rest}
	}
	return x
}

func dot(w, x []float64) float64 {
	var s float64
	for i := range w {
		s += w[i] * x[i]
	}
	return s
}

// fitLogistic fits weights by gradient descent on the mean log loss
// with an L2 penalty l2 (classes weighed equally).
func fitLogistic(X [][]float64, Y, W []float64, l2 float64) []float64 {
	w := make([]float64, len(X[0]))
	var npos, nneg float64
	for n, y := range Y {
		npos += y * W[n]
		nneg += (1 - y) * W[n]
	}
	wpos, wneg := 0.5/npos, 0.5/nneg
	g := make([]float64, len(w))
	for it := 0; it < 20000; it++ {
		for i := range g {
			g[i] = l2 * w[i]
		}
		for n, x := range X {
			p := 1 / (1 + math.Exp(-dot(w, x)))
			cw := wneg * W[n]
			if Y[n] == 1 {
				cw = wpos * W[n]
			}
			for i := range g {
				g[i] += cw * (p - Y[n]) * x[i]
			}
		}
		for i := range w {
			w[i] -= 0.5 * g[i]
		}
	}
	return w
}

// curve is the best spam caught with at most 2, 5 and 10 hard ham (and
// at most 2 other ham) at or above a threshold.
func curve(spam, ham, hard []float64) string {
	atOrAbove := func(l []float64, th float64) int {
		n := 0
		for _, x := range l {
			if x >= th {
				n++
			}
		}
		return n
	}
	cands := append(append(append([]float64(nil), spam...), ham...), hard...)
	out := ""
	for _, lim := range []int{2, 5, 10} {
		best := 0.0
		for _, th := range cands {
			if atOrAbove(hard, th) <= lim && atOrAbove(ham, th) <= 2 {
				best = max(best, 100*float64(atOrAbove(spam, th))/float64(len(spam)))
			}
		}
		out += fmt.Sprintf(" %.2f%%", best)
	}
	return out
}
