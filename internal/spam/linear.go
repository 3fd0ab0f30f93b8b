package spam

import "math"

// The discriminative half of the classifier: a linear model over the
// same tokens as the Bayes, hashed into LinearSize weights, trained
// online by AROW (adaptive regularization of weights, with one variance
// per weight): each trained message that is not yet beyond the margin
// moves the weights just far enough, and a weight already seen in many
// messages (small variance) moves little. So the order of training
// matters less than for a plain perceptron: a mailbox's training is
// usually a long run of ham read, then spam moved to Junk.
//
// Where the Bayes counts how often a token appears in spam and in ham,
// the weights learn which tokens tell the two apart once the others are
// accounted for. It adds its margin to the score as the "linear" reason.
//
// Training is one pass over each message, as it arrives (no second
// pass). A Delta carries the weights' changes; the store adds them up as
// it does token counts (spam_weights), so two processes training at once
// add their changes.

// LinearBits: a token's weight is at the low LinearBits of its Hash.
const LinearBits = 18

// LinearSize is the number of weights of a linear model: with their
// confidences, 2 MiB of float32 per model.
const LinearSize = 1 << LinearBits

const (
	// linearMargin: a trained message is moved until its margin is this.
	linearMargin = 1.0
	// linearR is AROW's regularization: larger, smaller steps. With
	// linearA, the variance of a weight never trained, only their ratio
	// matters; 0.01 was the best of 0.001-1 on the corpus with the
	// chi-square Bayes alone (bench/results/spam-2026-12-06.md, rows
	// 16-19), 0.001 with the case variants and the geometric Bayes
	// (bench/results/spam-2026-12-06b.md).
	linearR = 0.001
	linearA = 1.0
	// linearBias is the index of the bias weight, which every message has
	// (no token is put there).
	linearBias = 0
	// linearMaxPoints caps the linear reason's points either way.
	linearMaxPoints = 3.0
	// linearPoints: the points of a margin of 1.
	linearPoints = 0.9
)

// linearIndexes returns the weight indexes of a message's tokens (the bias
// first), and the value each feature has: 1/sqrt(n), so a long message
// does not weigh more than a short one (the feature vector has length 1).
func linearIndexes(tokens []string) ([]uint32, float64) {
	idx := make([]uint32, 0, len(tokens)+1)
	idx = append(idx, linearBias)
	for _, t := range tokens {
		i := uint32(Hash(t) & (LinearSize - 1))
		if i == linearBias {
			i = 1
		}
		idx = append(idx, i)
	}
	return idx, 1 / math.Sqrt(float64(len(idx)))
}

// Linear returns the linear model's margin for tokens: positive is spam,
// negative ham, about ±1 for messages like the trained ones; 0 when m has
// no weights.
func (m *Model) Linear(tokens []string) float64 {
	if m == nil || len(m.W) != LinearSize {
		return 0
	}
	idx, x := linearIndexes(tokens)
	var s float64
	for _, i := range idx {
		s += float64(m.W[i])
	}
	return s * x
}

// TrainLinear adds to d the update of the linear model that one message
// (its features f) asks for, given m's weights (nil: none) and what d
// already holds. A message already beyond the margin changes nothing.
func (d *Delta) TrainLinear(m *Model, f *Features, isSpam bool) {
	idx, x := linearIndexes(f.Tokens)
	if m != nil && len(m.W) != LinearSize {
		m = nil
	}
	if d.Weights == nil {
		d.Weights, d.Conf = map[uint32]float32{}, map[uint32]float32{}
	}
	weight := func(i uint32) (w, c float64) {
		w, c = float64(d.Weights[i]), float64(d.Conf[i])
		if m != nil {
			w += float64(m.W[i])
			c += float64(m.C[i])
		}
		return w, c
	}
	var s, v float64
	for _, i := range idx {
		w, c := weight(i)
		s += w
		v += variance(c)
	}
	s *= x
	v *= x * x
	y := -1.0
	if isSpam {
		y = 1
	}
	loss := linearMargin - y*s
	if loss <= 0 {
		return
	}
	alpha := loss / (v + linearR)
	for _, i := range idx {
		_, c := weight(i)
		d.Weights[i] += float32(alpha * y * variance(c) * x)
		d.Conf[i] += float32(x * x / linearR)
	}
}

// variance is a weight's variance from its confidence (the sum of its
// feature's squared values over the updates, over linearR): the diagonal
// of AROW's covariance, kept as its inverse, which updates add to.
func variance(c float64) float64 { return 1 / (1/linearA + c) }

// linear is the linear model's reason: its margin as points, at most
// linearMaxPoints either way.
func linear(f *Features, m *Model, which string) []Reason {
	if m == nil || len(m.W) != LinearSize {
		return nil
	}
	margin := m.Linear(f.Tokens)
	pts := math.Round(min(max(linearPoints*margin, -linearMaxPoints), linearMaxPoints)*100) / 100
	if pts == 0 {
		return nil
	}
	return []Reason{{Name: "linear", Points: pts, Detail: which}}
}
