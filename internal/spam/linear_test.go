package spam

import (
	"math"
	"testing"
)

// The linear model learns each way in one pass, a message already beyond
// the margin changes nothing, and it joins the score as "linear".
func TestLinearModel(t *testing.T) {
	s, h := corpus(40)
	m := NewModel()
	if got := m.Linear(Parse(s[0], "").Tokens); got != 0 {
		t.Fatalf("untrained margin %v", got)
	}
	// The order a mailbox usually trains in: ham read, then spam moved.
	train(m, h[:30], false)
	train(m, s[:30], true)
	if len(m.W) != LinearSize || len(m.C) != LinearSize {
		t.Fatalf("weights %d %d", len(m.W), len(m.C))
	}
	for _, b := range s[30:] {
		if got := m.Linear(Parse(b, "").Tokens); got <= 0 {
			t.Errorf("spam margin %v", got)
		}
	}
	for _, b := range h[30:] {
		if got := m.Linear(Parse(b, "").Tokens); got >= 0 {
			t.Errorf("ham margin %v", got)
		}
	}
	// Training a spam the model already puts beyond the margin again
	// changes nothing.
	f := Parse(s[0], "")
	if m.Linear(f.Tokens) >= linearMargin {
		d := NewDelta()
		d.TrainLinear(m, f, true)
		if len(d.Weights) != 0 {
			t.Errorf("update of a message beyond the margin: %d weights", len(d.Weights))
		}
	}
	r := Score(Parse(s[31], ""), m, nil, Thresholds{})
	found := false
	for _, x := range r.Reasons {
		if x.Name == "linear" {
			found = true
			if x.Points <= 0 || x.Points > linearMaxPoints || x.Detail != "account" {
				t.Errorf("linear reason %+v", x)
			}
		}
	}
	if !found {
		t.Errorf("no linear reason: %+v", r)
	}
	// Training it as ham moves it to the ham side (AROW moves a
	// message most of the way, less when its weights are well known).
	d := NewDelta()
	d.TrainLinear(m, f, false)
	m.Apply(d)
	if got := m.Linear(f.Tokens); got >= 0 {
		t.Errorf("margin after training as ham %v", got)
	}
}

// A model stored before the linear model existed (no weights) scores as
// before: no linear reason.
func TestModelWithoutWeights(t *testing.T) {
	s, h := corpus(40)
	m := NewModel()
	d := NewDelta()
	for _, b := range s[:30] {
		d.Train(Parse(b, ""), true, 1)
	}
	for _, b := range h[:30] {
		d.Train(Parse(b, ""), false, 1)
	}
	m.Apply(d)
	if m.W != nil {
		t.Fatal("weights without linear training")
	}
	r := Score(Parse(s[31], ""), m, nil, Thresholds{})
	for _, x := range r.Reasons {
		if x.Name == "linear" {
			t.Errorf("linear reason without weights: %+v", x)
		}
	}
	if r.Verdict != Junk {
		t.Errorf("spam scored %+v", r)
	}
}

// Weights load one by one (SetWeight, the store's rows) to the same model
// that training built, and the memory cost counts them.
func TestSetWeightAndCost(t *testing.T) {
	s, h := corpus(20)
	m := NewModel()
	train(m, h, false)
	train(m, s, true)
	n := NewModel()
	for i := range m.W {
		if m.W[i] != 0 || m.C[i] != 0 {
			n.SetWeight(uint32(i), m.W[i], m.C[i])
		}
	}
	n.SetWeight(LinearSize, 1, 1) // ignored
	f := Parse(s[0], "")
	if a, b := m.Linear(f.Tokens), n.Linear(f.Tokens); math.Abs(a-b) > 1e-9 {
		t.Errorf("margin %v, loaded %v", a, b)
	}
	if got, want := m.Cost(), len(m.Tokens)+LinearBytes/BytesPerToken; got != want {
		t.Errorf("cost %d, want %d", got, want)
	}
	if DefaultMaxTokens*BytesPerToken+LinearBytes > 8<<20 {
		t.Errorf("a model may cost more than 8 MiB")
	}
}
