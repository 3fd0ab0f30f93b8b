package spam

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
)

// Verdict is where a message goes.
type Verdict string

// The verdicts.
const (
	Inbox  Verdict = "inbox"
	Junk   Verdict = "junk"
	Reject Verdict = "reject"
)

// Thresholds turn a score into a verdict.
type Thresholds struct {
	// Junk: a score at or above it is junk (default DefaultJunk).
	Junk float64
	// Reject: a score at or above it is refused at SMTP time; 0 never.
	Reject float64
	// MinTrain: an account with fewer trained spam or ham messages is
	// judged by the household model (default DefaultMinTrain).
	MinTrain uint32
}

// Defaults of Thresholds.
const (
	DefaultJunk     = 5.0
	DefaultMinTrain = 20
)

// Reason is one contribution to a score.
type Reason struct {
	Name   string  // e.g. "bayes", "from-address", "spf"
	Points float64 // what it added (negative: towards ham)
	Detail string  // e.g. "household, 0.998" or "3 spam, 1 ham"
}

func (r Reason) String() string {
	s := fmt.Sprintf("%s=%+.2f", r.Name, r.Points)
	if r.Detail != "" {
		s += " (" + r.Detail + ")"
	}
	return s
}

// Result is a message's score, verdict and reasons (largest first).
type Result struct {
	Score   float64
	Verdict Verdict
	Reasons []Reason
}

// Reputation key prefixes (hashed into the model like tokens).
const (
	keyFrom   = "r:from:"
	keyDomain = "r:dom:"
	keyOrg    = "r:org:"
	keyDKIM   = "r:dkim:"
	keySPF    = "r:spf:"
	keyNet    = "r:net:"
	keySent   = "r:sent:" // the user wrote to this address
)

// repWeights: how many points a reputation key is worth at most (all its
// history one way).
var repWeights = []struct {
	prefix string
	name   string
	weight float64
}{
	{keyFrom, "from-address", 5},
	{keyDomain, "from-domain", 2.5},
	{keyOrg, "org-domain", 1.5},
	{keyDKIM, "dkim-identity", 3},
	{keySPF, "spf-identity", 2},
	{keyNet, "network", 2},
}

// ReputationKeys are the keys a message's history is kept under: its
// author, domains, authenticated identities and sending network.
func (f *Features) ReputationKeys() []string {
	var k []string
	if f.FromAddr != "" {
		k = append(k, keyFrom+f.FromAddr, keyDomain+f.FromDomain)
		if f.OrgDomain != f.FromDomain {
			k = append(k, keyOrg+f.OrgDomain)
		}
	}
	for _, d := range f.Auth.DKIMDomains {
		k = append(k, keyDKIM+d)
	}
	if f.Auth.SPFDomain != "" {
		k = append(k, keySPF+f.Auth.SPFDomain)
	}
	if f.Net != "" {
		k = append(k, keyNet+f.Net)
	}
	return k
}

// Network returns the network a client address is judged by: its /24
// (IPv4) or /48 (IPv6).
func Network(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap()
	bits := 24
	if ip.Is6() {
		bits = 48
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// Score judges a message with features f by its account's model (acct,
// nil for none) and the household model (nil for none).
func Score(f *Features, acct, household *Model, th Thresholds) Result {
	if th.Junk == 0 {
		th.Junk = DefaultJunk
	}
	if th.MinTrain == 0 {
		th.MinTrain = DefaultMinTrain
	}
	var rs []Reason
	if f.GTUBE {
		rs = append(rs, Reason{Name: "gtube", Points: 1000, Detail: "the GTUBE test string"})
	}
	m, which := contentModel(acct, household, th)
	rs = append(rs, bayes(f, m, which)...)
	rs = append(rs, linear(f, m, which)...)
	rs = append(rs, reputation(f, acct, household)...)
	rs = append(rs, boxSignals(f)...)
	return decide(rs, th)
}

// decide sums reasons into a score and a verdict, the reasons sorted
// largest first.
func decide(rs []Reason, th Thresholds) Result {
	slices.SortStableFunc(rs, func(a, b Reason) int {
		switch da, db := math.Abs(a.Points), math.Abs(b.Points); {
		case da > db:
			return -1
		case da < db:
			return 1
		}
		return 0
	})
	var score float64
	gtube := false
	for _, r := range rs {
		score += r.Points
		gtube = gtube || r.Name == "gtube"
	}
	score = math.Round(score*100) / 100
	v := Inbox
	switch {
	case gtube:
		v = Junk // always junk, never refused: it tests the Junk path
	case th.Reject > 0 && score >= th.Reject:
		v = Reject
	case score >= th.Junk:
		v = Junk
	}
	return Result{Score: score, Verdict: v, Reasons: rs}
}

// Join adds a reason from outside (another filter's verdict) to r and
// decides again.
func (r Result) Join(x Reason, th Thresholds) Result {
	if th.Junk == 0 {
		th.Junk = DefaultJunk
	}
	return decide(append(slices.Clone(r.Reasons), x), th)
}

// bayesPoints: the points of a Bayesian probability of 1 (and, negated,
// of 0), by each of the two combinations of the clues: chi-square's (p)
// weighs half, the geometric means' (geometric) whole. Chi-square alone
// saturates: a spam and a shop's newsletter both reach p = 1, and the
// score could not tell them apart (bench/results/spam-2026-12-06b.md).
// geoPivot is the geometric probability worth no points: below 0.5, as
// bayesPivot, so the default junk threshold keeps its place on the
// curve (ham in Junk against spam caught) on the corpus: about 8% of
// hard ham in Junk, the point where the box catches more spam than
// SpamAssassin with less ham in Junk.
const (
	bayesPoints = 7
	geoPivot    = 0.325
)

// The Bayesian probability worth no points is bayesPivot for a message
// with pivotClues clues or more, nearer 0.5 for fewer: chi-square
// combining puts a spam with much ordinary text near 0.5 ("unsure"), and
// 0.7 is junk more often than not, except for a message with only a few
// clues. (40 clues kept one more easy ham out of Junk on the corpus, but
// left a message with three strong spam clues and one ham clue in INBOX:
// test/spam_test.go's chess club.)
const (
	bayesPivot = 0.28
	pivotClues = 10.0
)

// contentModel is the model the content classifiers use: the account's
// when it has enough training each way, else the household's.
func contentModel(acct, household *Model, th Thresholds) (*Model, string) {
	if acct == nil || acct.Spam < th.MinTrain || acct.Ham < th.MinTrain {
		return household, "household"
	}
	return acct, "account"
}

// bayes is the Bayesian classifier's reason.
func bayes(f *Features, m *Model, which string) []Reason {
	if m == nil || m.Spam == 0 || m.Ham == 0 {
		return nil
	}
	p, clues := m.Bayes(f.Tokens)
	if len(clues) == 0 {
		return nil
	}
	pivot := 0.5 - (0.5-bayesPivot)*min(1, float64(len(clues))/pivotClues)
	g := geometric(clues)
	pts := math.Round((bayesPoints*(p-pivot)+2*bayesPoints*(g-geoPivot))*100) / 100
	detail := fmt.Sprintf("%s, p=%.3f, g=%.3f, %d clues", which, p, g, len(clues))
	var top []string
	for _, c := range clues[:min(len(clues), 3)] {
		top = append(top, fmt.Sprintf("%s:%.2f", safeToken(c.Token), c.Prob))
	}
	if len(top) > 0 {
		detail += ": " + strings.Join(top, " ")
	}
	return []Reason{{Name: "bayes", Points: pts, Detail: detail}}
}

// geometric is Robinson's combination of the clues' probabilities by
// their geometric means (the "gary-combining" of SpamBayes' history):
// unlike chi-square combining it does not saturate, so a message whose
// clues are spammy on average stays apart from one whose clues are a
// few strong ones among many neutral.
func geometric(clues []Clue) float64 {
	if len(clues) == 0 {
		return 0.5
	}
	var lnS, lnH float64
	for _, c := range clues {
		p := min(max(c.Prob, 1e-6), 1-1e-6)
		lnS += math.Log(1 - p)
		lnH += math.Log(p)
	}
	n := float64(len(clues))
	ps := 1 - math.Exp(lnS/n) // spamminess
	ph := 1 - math.Exp(lnH/n) // hamminess
	if ps+ph == 0 {
		return 0.5
	}
	return (1 + (ps-ph)/(ps+ph)) / 2
}

// safeToken makes a token fit a header field (ASCII only: the message
// may be 7-bit) and a terminal.
func safeToken(t string) string {
	t = strings.Map(func(r rune) rune {
		if r < ' ' || r >= 0x7f || r == '(' || r == ')' || r == ';' || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, t)
	if len(t) > 30 {
		t = t[:30]
	}
	return t
}

// reputation is what the account's history (the household's when the
// account has none) says of the message's sender.
func reputation(f *Features, acct, household *Model) []Reason {
	m := acct
	if m == nil || len(m.Tokens) == 0 {
		m = household
	}
	if m == nil {
		return nil
	}
	var rs []Reason
	if f.FromAddr != "" {
		if c := m.Tokens[Hash(keySent+f.FromAddr)]; c.Ham > 0 {
			rs = append(rs, Reason{Name: "written-to", Points: -6, Detail: fmt.Sprintf("%d messages sent to %s", c.Ham, safeToken(f.FromAddr))})
		}
	}
	known := false
	keys := f.ReputationKeys()
	for _, k := range keys {
		c, ok := m.Tokens[Hash(k)]
		if !ok {
			continue
		}
		known = known || strings.HasPrefix(k, keyFrom)
		for _, w := range repWeights {
			if !strings.HasPrefix(k, w.prefix) {
				continue
			}
			s, h := float64(c.Spam), float64(c.Ham)
			pts := math.Round(w.weight*(s-h)/(s+h+1)*100) / 100
			if pts != 0 {
				rs = append(rs, Reason{Name: w.name, Points: pts, Detail: fmt.Sprintf("%d spam, %d ham", c.Spam, c.Ham)})
			}
		}
	}
	if !known && f.FromAddr != "" && len(rs) == 0 && m.Spam+m.Ham > 0 {
		rs = append(rs, Reason{Name: "first-time-sender", Points: 0.5})
	}
	return rs
}

// boxSignals are the results of the box's own checks.
func boxSignals(f *Features) []Reason {
	a := f.Auth
	if !a.Found || a.Trusted || a.Submitted {
		return nil
	}
	var rs []Reason
	// The domain's own policies were applied before (smtpd: DMARC reject
	// and quarantine); what reaches here failed under p=none, which asks
	// receivers not to act, so these alone stay under the junk score.
	switch a.SPF {
	case "fail":
		rs = append(rs, Reason{Name: "spf", Points: 1.5, Detail: "fail"})
	case "softfail":
		rs = append(rs, Reason{Name: "spf", Points: 0.7, Detail: "softfail"})
	case "none", "":
		rs = append(rs, Reason{Name: "spf", Points: 0.3, Detail: "none"})
	}
	switch {
	case a.DKIM == "fail" || a.DKIM == "permerror":
		rs = append(rs, Reason{Name: "dkim", Points: 1, Detail: a.DKIM})
	case a.DKIM == "pass":
		rs = append(rs, Reason{Name: "dkim", Points: -0.2, Detail: "pass"})
	}
	switch a.DMARC {
	case "fail":
		rs = append(rs, Reason{Name: "dmarc", Points: 1.5, Detail: "fail"})
	case "pass":
		rs = append(rs, Reason{Name: "dmarc", Points: -0.5, Detail: "pass"})
	}
	return rs
}

// Header returns the X-Spam-Status, X-Spam-Score and X-Spam-Reasons
// fields of a result (CRLF line ends), reasons in the manner of
// Authentication-Results: "host; name=points (detail); ...".
func (r Result) Header(host string, th Thresholds) string {
	if th.Junk == 0 {
		th.Junk = DefaultJunk
	}
	yes := "No"
	if r.Verdict != Inbox {
		yes = "Yes"
	}
	var names []string
	for _, x := range r.Reasons {
		names = append(names, strings.ToUpper(strings.ReplaceAll(x.Name, "-", "_")))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "X-Spam-Status: %s, score=%.2f required=%.1f tests=%s\r\n", yes, r.Score, th.Junk, strings.Join(names, ","))
	fmt.Fprintf(&b, "X-Spam-Score: %.2f\r\n", r.Score)
	b.WriteString("X-Spam-Reasons: " + host)
	if len(r.Reasons) == 0 {
		b.WriteString("; none")
	}
	for _, x := range r.Reasons {
		b.WriteString(";\r\n\t" + x.String())
	}
	b.WriteString("\r\n")
	return b.String()
}
