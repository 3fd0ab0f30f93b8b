package spam

import (
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func msg(hdr, body string) []byte {
	return []byte(strings.ReplaceAll(hdr, "\n", "\r\n") + "\r\n" + strings.ReplaceAll(body, "\n", "\r\n"))
}

func TestTokenize(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte("Cheap viagra pills here"))
	tests := []struct {
		name     string
		msg      []byte
		want     []string
		notWant  []string
		from     string
		wantAuth AuthResults
	}{
		{
			name: "plain",
			msg:  msg("From: Ann <Ann@Example.org>\nSubject: Lunch tomorrow?\n", "Shall we meet at noon?\nSee https://maps.example.com/x?y=1\n"),
			want: []string{"s:lunch", "s:tomorrow", "shall", "meet", "noon", "url:maps.example.com", "url:example.com", "f:ann", "ct:text/plain",
				"v:s:Lunch", "v:Shall", "v:See"},
			notWant: []string{"v:meet", "v:f:Ann"},
			from:    "ann@example.org",
		},
		{
			name: "base64 body",
			msg:  msg("From: x@spam.test\nContent-Transfer-Encoding: base64\n", b64+"\n"),
			want: []string{"cheap", "viagra", "pills", "h:cte:base64"},
		},
		{
			name:    "zero-width split words",
			msg:     msg("From: x@spam.test\nContent-Type: text/plain; charset=utf-8\n", "vi\u200bag\u200dra and ca\u00adsino\n"),
			want:    []string{"viagra", "casino", "h:invisible-char"},
			notWant: []string{"vi", "ag", "ra"},
		},
		{
			name: "html with hidden text",
			msg: msg("From: x@spam.test\nContent-Type: text/html\n",
				`<html><style>p{color:red}</style><body><p>Claim your <b>prize</b> now</p>`+
					`<div style="display: none">meeting agenda quarterly report</div><a href="https://Win.Prize.example/x">here</a>`+
					`<span style="font-size:0.9em">visible</span><p>ok &amp; z&#8203;ero</p></body></html>`),
			want:    []string{"claim", "prize", "hid:meeting", "hid:agenda", "url:win.prize.example", "h:hidden-text", "h:html", "visible", "zero"},
			notWant: []string{"meeting", "agenda", "color", "red"},
		},
		{
			name: "multipart with attachment",
			msg: msg("From: x@spam.test\nContent-Type: multipart/mixed; boundary=\"b1\"\n",
				"--b1\nContent-Type: text/plain\n\nInvoice attached\n--b1\nContent-Type: application/zip; name=\"inv.zip\"\nContent-Disposition: attachment; filename=\"inv.zip\"\n\nPK...\n--b1--\n"),
			want: []string{"invoice", "attached", "att:zip", "ct:application/zip"},
		},
		{
			name: "latin1 quoted-printable",
			msg:  msg("From: x@example.de\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n", "Gr=FC=DFe aus M=FCnchen\n"),
			want: []string{"grüße", "münchen"},
		},
		{
			name: "box auth results",
			msg: msg("Authentication-Results: mx.box.test;\n\tspf=pass smtp.mailfrom=a@sender.test;\n\tdkim=pass header.d=sender.test header.s=s1;\n\tdmarc=pass header.from=sender.test\n"+
				"Authentication-Results: evil.test; spf=pass\nFrom: a@sender.test\n", "hi\n"),
			wantAuth: AuthResults{Found: true, SPF: "pass", SPFDomain: "sender.test", DKIM: "pass", DKIMDomains: []string{"sender.test"}, DMARC: "pass"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := Parse(tc.msg, "mx.box.test")
			for _, w := range tc.want {
				if !slices.Contains(f.Tokens, w) {
					t.Errorf("token %q missing in %q", w, f.Tokens)
				}
			}
			for _, w := range tc.notWant {
				if slices.Contains(f.Tokens, w) {
					t.Errorf("token %q should not be in %q", w, f.Tokens)
				}
			}
			if tc.from != "" && f.FromAddr != tc.from {
				t.Errorf("from = %q, want %q", f.FromAddr, tc.from)
			}
			if tc.wantAuth.Found && fmt.Sprint(f.Auth) != fmt.Sprint(tc.wantAuth) {
				t.Errorf("auth = %+v, want %+v", f.Auth, tc.wantAuth)
			}
		})
	}
}

func TestGTUBEIsAlwaysJunk(t *testing.T) {
	f := Parse(msg("From: a@b.test\nSubject: test\n", "body "+GTUBE+"\n"), "")
	for _, th := range []Thresholds{{}, {Reject: 3}} {
		r := Score(f, nil, nil, th)
		if r.Verdict != Junk || r.Score < 1000 {
			t.Errorf("%+v: GTUBE got %+v", th, r)
		}
	}
	// Also when base64-encoded.
	b := base64.StdEncoding.EncodeToString([]byte(GTUBE))
	f = Parse(msg("From: a@b.test\nContent-Transfer-Encoding: base64\n", b+"\n"), "")
	if !f.GTUBE {
		t.Error("base64 GTUBE not found")
	}
}

// corpus builds n spam and n ham messages of distinct vocabularies.
func corpus(n int) (spamMsgs, hamMsgs [][]byte) {
	for i := range n {
		spamMsgs = append(spamMsgs, msg(fmt.Sprintf("From: promo%d@deals%d.test\nSubject: Cheap pills offer %d\n", i, i%7, i),
			fmt.Sprintf("Buy cheap pills now, limited offer, casino bonus winner. Click https://pills%d.example/buy unsubscribe\n", i%5)))
		hamMsgs = append(hamMsgs, msg(fmt.Sprintf("From: friend%d@family.test\nSubject: Dinner plans %d\n", i%9, i),
			fmt.Sprintf("Hi, shall we have dinner on Sunday with grandma? The kids want pizza. Love, aunt %d\n", i)))
	}
	return
}

func train(m *Model, msgs [][]byte, isSpam bool) {
	d := NewDelta()
	for _, b := range msgs {
		f := Parse(b, "")
		d.Train(f, isSpam, 1)
		d.TrainLinear(m, f, isSpam)
	}
	m.Apply(d)
}

// A word's case variant replaces the lower-case word as a clue once the
// model knows it from enough messages; a variant seen less often leaves
// the lower-case word its clue.
func TestCaseVariantDegeneration(t *testing.T) {
	m := NewModel()
	m.Spam, m.Ham = 100, 100
	m.Tokens[Hash("click")] = Counts{Ham: 50}
	m.Tokens[Hash("v:Click")] = Counts{Spam: 40}
	m.Tokens[Hash("v:Here")] = Counts{Spam: variantMin - 1}
	m.Tokens[Hash("here")] = Counts{Ham: 30}
	_, clues := m.Bayes(Parse(msg("From: x@spam.test\n", "Click Here\n"), "").Tokens)
	got := map[string]bool{}
	for _, c := range clues {
		got[c.Token] = true
	}
	if !got["v:Click"] || got["click"] {
		t.Errorf("known variant: clues %v", clues)
	}
	if !got["here"] {
		t.Errorf("rare variant: clues %v", clues)
	}
}

func TestClassifier(t *testing.T) {
	s, h := corpus(40)
	m := NewModel()
	train(m, s[:30], true)
	train(m, h[:30], false)
	for _, b := range s[30:] {
		r := Score(Parse(b, ""), m, nil, Thresholds{})
		if r.Verdict != Junk {
			t.Errorf("spam scored %+v", r)
		}
	}
	for _, b := range h[30:] {
		r := Score(Parse(b, ""), m, nil, Thresholds{})
		if r.Verdict != Inbox {
			t.Errorf("ham scored %+v", r)
		}
	}
	// An untrained account is judged by the household model.
	r := Score(Parse(s[35], ""), NewModel(), m, Thresholds{})
	if r.Verdict != Junk || !strings.Contains(r.Reasons[0].Detail, "household") {
		t.Errorf("household: %+v", r)
	}
	// Reject threshold.
	if r := Score(Parse(s[36], ""), m, nil, Thresholds{Reject: 6}); r.Verdict != Reject {
		t.Errorf("reject: %+v", r)
	}
	// Untraining removes what training added.
	d := NewDelta()
	d.Train(Parse(s[0], ""), true, 1)
	n := len(m.Tokens)
	m.Apply(d)
	d2 := NewDelta()
	d2.Train(Parse(s[0], ""), true, -1)
	m.Apply(d2)
	if len(m.Tokens) != n {
		t.Errorf("tokens %d after untrain, want %d", len(m.Tokens), n)
	}
}

// An attacker who fills a spam with ham-looking words (hidden or shown)
// does not get it into the inbox once the sender's spam is known.
func TestHamTokenFlood(t *testing.T) {
	s, h := corpus(40)
	m := NewModel()
	train(m, s[:30], true)
	train(m, h[:30], false)
	hidden := msg("From: promo3@deals3.test\nSubject: Cheap pills\nContent-Type: text/html\n",
		`<p>Buy cheap pills now casino bonus</p><div style="display:none">dinner sunday grandma kids pizza love aunt shall have with</div>`)
	if r := Score(Parse(hidden, ""), m, nil, Thresholds{}); r.Verdict != Junk {
		t.Errorf("hidden ham words: %+v", r)
	}
}

func TestReputation(t *testing.T) {
	m := NewModel()
	f := Parse(msg("From: boss@work.test\nSubject: numbers\n", "see attached figures\n"), "")
	f.Net = Network(netip.MustParseAddr("192.0.2.7"))
	d := NewDelta()
	for range 3 {
		d.Train(f, false, 1)
	}
	d.Wrote([]string{"friend@pals.test"})
	m.Apply(d)
	r := Score(f, m, nil, Thresholds{})
	if r.Score >= 0 {
		t.Errorf("known ham sender scored %+v", r)
	}
	g := Parse(msg("From: Friend <friend@pals.test>\n", "hello\n"), "")
	r = Score(g, m, nil, Thresholds{})
	if r.Score > -5 || r.Reasons[0].Name != "written-to" {
		t.Errorf("written-to: %+v", r)
	}
	if Network(netip.MustParseAddr("2001:db8:1:2::1")) != "2001:db8:1::/48" {
		t.Error(Network(netip.MustParseAddr("2001:db8:1:2::1")))
	}
}

func TestBoxSignals(t *testing.T) {
	m := msg("Authentication-Results: mx.box.test;\n\tspf=fail smtp.mailfrom=a@x.test;\n\tdkim=none;\n\tdmarc=fail header.from=x.test\nFrom: a@x.test\n", "hi\n")
	r := Score(Parse(m, "mx.box.test"), nil, nil, Thresholds{})
	if r.Score < 2.5 || r.Verdict != Inbox { // p=none asks receivers not to act on it alone
		t.Errorf("spf+dmarc fail: %+v", r)
	}
	tr := msg("Authentication-Results: mx.box.test; (trusted network) none\nFrom: a@x.test\n", "hi\n")
	if r = Score(Parse(tr, "mx.box.test"), nil, nil, Thresholds{}); r.Score != 0 {
		t.Errorf("trusted: %+v", r)
	}
	h := r.Header("mx.box.test", Thresholds{})
	if !strings.HasPrefix(h, "X-Spam-Status: No, score=0.00") || !strings.Contains(h, "X-Spam-Score: 0.00\r\n") {
		t.Errorf("header %q", h)
	}
}

func TestPrune(t *testing.T) {
	m := NewModel()
	for i := range 1000 {
		m.Tokens[uint64(i)] = Counts{Spam: uint32(i % 5)}
	}
	m.Tokens[5000] = Counts{Ham: 100}
	if n := m.PruneTo(100); n != 901 || len(m.Tokens) != 100 {
		t.Fatalf("pruned %d, left %d", n, len(m.Tokens))
	}
	if _, ok := m.Tokens[5000]; !ok {
		t.Error("the most frequent token was pruned")
	}
}

// Scoring a 10 KiB message costs well under a millisecond.
func TestScoringCost(t *testing.T) {
	s, h := corpus(200)
	m := NewModel()
	train(m, s, true)
	train(m, h, false)
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt. ", 110)
	b := msg("From: a@b.test\nSubject: hello there\n", body)
	start := time.Now()
	const n = 200
	for range n {
		Score(Parse(b, ""), m, m, Thresholds{})
	}
	per := time.Since(start) / n
	t.Logf("%d bytes: %v per message", len(b), per)
	if per > 5*time.Millisecond { // the goal is 1 ms; the CI machine is shared
		t.Errorf("scoring took %v", per)
	}
}

func BenchmarkScore10K(b *testing.B) {
	s, h := corpus(200)
	m := NewModel()
	train(m, s, true)
	train(m, h, false)
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt. ", 110)
	data := msg("From: a@b.test\nSubject: hello there\n", body)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Score(Parse(data, ""), m, m, Thresholds{})
	}
}

func TestHashIsFNV1a(t *testing.T) {
	for _, s := range []string{"", "a", "viagra", "r:from:a@b.test"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if Hash(s) != h.Sum64() {
			t.Errorf("Hash(%q) = %x, want %x", s, Hash(s), h.Sum64())
		}
	}
}
