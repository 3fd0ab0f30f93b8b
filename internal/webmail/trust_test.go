package webmail

import (
	"strings"
	"testing"
)

func TestTrust(t *testing.T) {
	const host = "mx.box.example"
	ours := func(results string) string {
		return "Authentication-Results: mx.box.example;\r\n\t" + results + "\r\n"
	}
	cases := []struct {
		name   string
		header string
		facts  TrustFacts
		want   []string // "level:substring", in order
		not    []string // substrings that must not appear
	}{
		{
			name: "all pass",
			header: ours("spf=pass smtp.mailfrom=news@shop.example;\r\n\tdkim=pass header.d=shop.example header.s=s1 header.b=abc;\r\n\tdmarc=pass header.from=shop.example") +
				"From: Shop <news@shop.example>\r\n",
			want: []string{"good:SPF", "good:DMARC: the sender's domain shop.example is authenticated", "good:DKIM: signed by shop.example"},
		},
		{
			name:   "dmarc fail, dkim fail",
			header: ours("spf=softfail smtp.mailfrom=x@bank.example;\r\n\tdkim=fail header.d=bank.example;\r\n\tdmarc=fail header.from=bank.example") + "From: x@bank.example\r\n",
			want:   []string{"warn:SPF softfail", "bad:DMARC failed", "warn:DKIM: its signature does not verify"},
		},
		{
			name:   "no policy, unsigned",
			header: ours("spf=none smtp.mailfrom=a@small.example;\r\n\tdkim=none;\r\n\tdmarc=none header.from=small.example") + "From: a@small.example\r\n",
			want:   []string{"note:SPF: none", "note:DMARC: the sender's domain small.example publishes no policy", "note:DKIM: not signed"},
		},
		{
			name:   "submitted",
			header: ours("auth=pass smtp.auth=me@box.example") + "From: me@box.example\r\n",
			want:   []string{"good:Sent through this box by me@box.example"},
		},
		{
			name:   "trusted network",
			header: "Authentication-Results: mx.box.example; (trusted network) none\r\nFrom: a@b.example\r\n",
			want:   []string{"note:trusted network"},
		},
		{
			name: "a forged field below ours is ignored, a foreign one on top means unchecked",
			header: "Authentication-Results: evil.example; dmarc=pass header.from=bank.example\r\n" +
				ours("dmarc=fail header.from=bank.example") + "From: x@bank.example\r\n",
			want: []string{"note:did not check"},
			not:  []string{"DMARC"},
		},
		{
			name:   "a quoted or commented authserv-id of ours counts; case does not matter",
			header: "Authentication-Results: (c) MX.Box.Example. ; dmarc=pass (x;y) header.from=ok.example\r\nFrom: a@ok.example\r\n",
			want:   []string{"good:DMARC: the sender's domain ok.example"},
		},
		{
			name:   "no field",
			header: "From: a@b.example\r\n",
			want:   []string{"note:did not check"},
		},
		{
			name:   "first message",
			header: "From: a@b.example\r\n",
			facts:  TrustFacts{FirstFromSender: true},
			want:   []string{"note:did not check", "note:first message from a@b.example"},
		},
		{
			name:   "reply-to in another domain",
			header: "From: Bank <info@bank.example>\r\nReply-To: claims@elsewhere.example\r\n",
			want:   []string{"warn:Replies go to claims@elsewhere.example"},
		},
		{
			name:   "reply-to in the same domain",
			header: "From: Bank <info@bank.example>\r\nReply-To: help@bank.example\r\n",
			want:   []string{"note:Replies go to help@bank.example"},
		},
		{
			name:   "reply-to the same address",
			header: "From: info@bank.example\r\nReply-To: Info@Bank.example\r\n",
			not:    []string{"Replies go"},
		},
		{
			name:   "display name shows another address",
			header: "From: \"security@bank.example\" <x@phish.example>\r\n",
			want:   []string{"bad:shows the address security@bank.example, but the message is from x@phish.example"},
		},
		{
			name:   "display name shows the same address",
			header: "From: \"info@bank.example\" <INFO@bank.example>\r\n",
			not:    []string{"shows the address"},
		},
		{
			name:   "encoded display name with an address",
			header: "From: =?UTF-8?Q?support=40paypal=2Ecom?= <a@b.example>\r\n",
			want:   []string{"bad:shows the address support@paypal.com"},
		},
		{
			name:   "punycode of mixed scripts (Cyrillic а in paypal)",
			header: "From: x@xn--pypal-4ve.com\r\n",
			want:   []string{"warn:international letters: pаypal.com", "bad:mixes alphabets"},
		},
		{
			name:   "all look-alike Cyrillic",
			header: "From: x@xn--80ak6aa92e.com\r\n",
			want:   []string{"warn:international letters", "bad:non-Latin letters that look like Latin"},
		},
		{
			name:   "a genuine German umlaut domain is only noted as international",
			header: "From: x@xn--mnchen-3ya.de\r\n",
			want:   []string{"warn:international letters: münchen.de"},
			not:    []string{"mixes", "look like"},
		},
		{
			name:   "Japanese mixes Han and kana by design",
			header: "From: x@xn--eckwd4c7c.xn--zckzah\r\n",
			not:    []string{"mixes alphabets"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.facts
			f.Host = host
			got := Trust([]byte(c.header+"\r\n"), f)
			var lines []string
			for _, s := range got {
				lines = append(lines, s.Level+":"+s.Text)
			}
			all := strings.Join(lines, "\n")
			i := 0
			for _, w := range c.want {
				lvl, sub, _ := strings.Cut(w, ":")
				for i < len(lines) && !(strings.HasPrefix(lines[i], lvl+":") && strings.Contains(lines[i], sub)) {
					i++
				}
				if i == len(lines) {
					t.Errorf("missing (in order) %q in:\n%s", w, all)
					break
				}
			}
			for _, n := range c.not {
				if strings.Contains(all, n) {
					t.Errorf("unexpected %q in:\n%s", n, all)
				}
			}
		})
	}
}
