package spam

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// Counts are how many trained spam and ham messages held a token.
type Counts struct{ Spam, Ham uint32 }

// Model is one account's (or the household's) training: how many
// messages were trained each way and the counts per token hash. A Model
// is not safe for concurrent change; callers share it read-only.
type Model struct {
	Spam, Ham uint32 // trained messages
	Tokens    map[uint64]Counts
	// W are the linear model's weights (linear.go): LinearSize of them,
	// or nil before the first linear training.
	W []float32
	// C are the weights' confidences (AROW), as W.
	C []float32
}

// NewModel returns an empty model.
func NewModel() *Model { return &Model{Tokens: map[uint64]Counts{}} }

// BytesPerToken is what one token of a loaded Model costs in memory, about
// (key, value and the map's overhead): the unit of the memory caps.
const BytesPerToken = 40

// DefaultMaxTokens caps one model's tokens: with its linear model
// (LinearBytes), 8 MiB of memory at BytesPerToken.
const DefaultMaxTokens = (8<<20 - LinearBytes) / BytesPerToken

// LinearBytes is what a model's linear weights and confidences cost in
// memory.
const LinearBytes = 2 * 4 * LinearSize

// Cost is what m costs in memory, in units of BytesPerToken (the memory
// caps' unit).
func (m *Model) Cost() int {
	n := len(m.Tokens)
	if m.W != nil {
		n += LinearBytes / BytesPerToken
	}
	return n
}

// SetWeight sets one weight of the linear model and its confidence (a
// model loaded from storage); an index past LinearSize is ignored.
func (m *Model) SetWeight(i uint32, w, c float32) {
	if i >= LinearSize {
		return
	}
	if m.W == nil {
		m.W, m.C = make([]float32, LinearSize), make([]float32, LinearSize)
	}
	m.W[i], m.C[i] = w, max(c, 0)
}

// Hash is the key a token or reputation key is stored under: its 64-bit
// FNV-1a hash (what hash/fnv's New64a computes, without an allocation).
func Hash(tok string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(tok); i++ {
		h ^= uint64(tok[i])
		h *= 1099511628211
	}
	return h
}

// Delta is a change of a model: messages added (or removed, negative)
// each way and per-token changes.
type Delta struct {
	Spam, Ham int
	Tokens    map[uint64]TokenDelta
	// Weights are changes of the linear model's weights (TrainLinear).
	Weights map[uint32]float32
	// Conf are changes of the weights' confidences.
	Conf map[uint32]float32
}

// TokenDelta is the change of one token's counts.
type TokenDelta struct{ Spam, Ham int }

// NewDelta returns an empty delta.
func NewDelta() *Delta { return &Delta{Tokens: map[uint64]TokenDelta{}} }

// Empty reports whether d changes nothing.
func (d *Delta) Empty() bool {
	return d.Spam == 0 && d.Ham == 0 && len(d.Tokens) == 0 && len(d.Weights) == 0
}

// Train adds (n = 1) or removes (n = -1) one message's features as spam
// or ham: its content tokens and its reputation keys.
func (d *Delta) Train(f *Features, isSpam bool, n int) {
	if isSpam {
		d.Spam += n
	} else {
		d.Ham += n
	}
	add := func(tok string) {
		h := Hash(tok)
		td := d.Tokens[h]
		if isSpam {
			td.Spam += n
		} else {
			td.Ham += n
		}
		d.Tokens[h] = td
	}
	for _, t := range f.Tokens {
		add(t)
	}
	for _, k := range f.ReputationKeys() {
		add(k)
	}
}

// Wrote records that the user sent a message to these addresses: a
// reply from them is wanted.
func (d *Delta) Wrote(addrs []string) {
	for _, a := range addrs {
		h := Hash(keySent + a)
		td := d.Tokens[h]
		td.Ham++
		d.Tokens[h] = td
	}
}

// Apply changes m by d; counts never go below zero, and tokens left at
// zero are dropped.
func (m *Model) Apply(d *Delta) {
	m.Spam = addClamp(m.Spam, d.Spam)
	m.Ham = addClamp(m.Ham, d.Ham)
	for h, td := range d.Tokens {
		c := m.Tokens[h]
		c.Spam, c.Ham = addClamp(c.Spam, td.Spam), addClamp(c.Ham, td.Ham)
		if c.Spam == 0 && c.Ham == 0 {
			delete(m.Tokens, h)
		} else {
			m.Tokens[h] = c
		}
	}
	m.AddWeights(d.Weights, d.Conf)
}

// AddWeights adds changes to the linear model's weights and
// confidences (indexes past LinearSize are ignored).
func (m *Model) AddWeights(w, c map[uint32]float32) {
	if len(w) == 0 && len(c) == 0 {
		return
	}
	if m.W == nil {
		m.W, m.C = make([]float32, LinearSize), make([]float32, LinearSize)
	}
	for i, v := range w {
		if i < LinearSize {
			m.W[i] += v
		}
	}
	for i, v := range c {
		if i < LinearSize {
			m.C[i] = max(m.C[i]+v, 0)
		}
	}
}

func addClamp(v uint32, d int) uint32 {
	n := int64(v) + int64(d)
	return uint32(min(max(n, 0), math.MaxUint32))
}

// PruneTo drops the rarest tokens until at most max remain and returns
// how many were dropped: what a token seen once or twice teaches is worth
// the least.
func (m *Model) PruneTo(maxTokens int) int {
	excess := len(m.Tokens) - maxTokens
	if excess <= 0 {
		return 0
	}
	type kv struct {
		h uint64
		n uint64
	}
	all := make([]kv, 0, len(m.Tokens))
	for h, c := range m.Tokens {
		all = append(all, kv{h, uint64(c.Spam) + uint64(c.Ham)})
	}
	slices.SortFunc(all, func(a, b kv) int {
		if c := cmp.Compare(a.n, b.n); c != 0 {
			return c
		}
		return cmp.Compare(a.h, b.h)
	})
	for _, e := range all[:excess] {
		delete(m.Tokens, e.h)
	}
	return excess
}

// Robinson's constants: the strength and assumed probability of a token
// seen in few messages. On the corpus (bench/results/spam-2026-12-06.md)
// a weak prior (0.15, SpamBayes uses 0.45) over every telling token, not
// the 150 most telling, separates best: a spam that quotes a page of
// ordinary prose is not outvoted by 150 of its words.
const (
	robS = 0.15
	robX = 0.5
	// minDev: tokens closer to 0.5 than this are ignored.
	minDev = 0.2
	// maxClues: the most telling tokens used (a bound on the work; a
	// message has at most maxTokens).
	maxClues = 1000
)

// Clue is one token's contribution to the Bayesian probability.
type Clue struct {
	Token string
	Prob  float64
}

// Bayes returns the probability that tokens are spam in m (0 ham, 1
// spam; 0.5 when m cannot tell) by Robinson's token probabilities and
// Fisher's chi-square combination (as SpamBayes and bogofilter), and the
// clues it used, most telling first.
func (m *Model) Bayes(tokens []string) (float64, []Clue) {
	if m == nil || m.Spam == 0 || m.Ham == 0 {
		return 0.5, nil
	}
	clues := make([]Clue, 0, 64)
	degenerate := m.knownVariants(tokens)
	for _, t := range tokens {
		if degenerate[t] {
			continue
		}
		c, ok := m.Tokens[Hash(t)]
		if !ok {
			continue
		}
		ps := min(float64(c.Spam)/float64(m.Spam), 1)
		ph := min(float64(c.Ham)/float64(m.Ham), 1)
		if ps+ph == 0 {
			continue
		}
		p := ps / (ps + ph)
		n := float64(c.Spam + c.Ham)
		f := (robS*robX + n*p) / (robS + n)
		if math.Abs(f-0.5) >= minDev {
			clues = append(clues, Clue{t, f})
		}
	}
	if len(clues) == 0 {
		return 0.5, nil
	}
	slices.SortFunc(clues, func(a, b Clue) int {
		da, db := math.Abs(a.Prob-0.5), math.Abs(b.Prob-0.5)
		switch {
		case da > db:
			return -1
		case da < db:
			return 1
		}
		return compareStr(a.Token, b.Token)
	})
	clues = clues[:min(len(clues), maxClues)]
	var lnS, lnH float64
	for _, c := range clues {
		p := min(max(c.Prob, 1e-6), 1-1e-6)
		lnS += math.Log(1 - p)
		lnH += math.Log(p)
	}
	n := len(clues)
	s := 1 - chi2Q(-2*lnS, 2*n) // evidence for spam
	h := 1 - chi2Q(-2*lnH, 2*n) // evidence for ham
	return (s - h + 1) / 2, clues
}

// Token degeneration (after bogofilter and DSPAM): a word written with
// capitals has a "v:" token of its own case beside its lower-case token,
// trained and scored like any token. When the model knows the variant
// from at least variantMin messages, the lower-case word is no clue of
// that message (a "Click" that opens spam is not the "click" of a
// how-to, and one word is not counted twice); a variant seen less often
// leaves the lower-case word its clue.
const (
	caseVariant = "v:"
	variantMin  = 3
)

// knownVariants returns the lower-case tokens whose case variant among
// tokens the model knows well enough to use instead (nil: none).
func (m *Model) knownVariants(tokens []string) map[string]bool {
	var known map[string]bool
	for _, t := range tokens {
		if !strings.HasPrefix(t, caseVariant) {
			continue
		}
		if c := m.Tokens[Hash(t)]; c.Spam+c.Ham >= variantMin {
			if known == nil {
				known = map[string]bool{}
			}
			known[strings.ToLower(t[len(caseVariant):])] = true
		}
	}
	return known
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// chi2Q is the probability that a chi-square variate with v (even)
// degrees of freedom is at least x2.
func chi2Q(x2 float64, v int) float64 {
	m := x2 / 2
	sum := math.Exp(-m)
	term := sum
	for i := 1; i < v/2; i++ {
		term *= m / float64(i)
		sum += term
	}
	return min(sum, 1)
}
