package dnsd

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkAnswer measures one query's answer (no network) over the
// bench/dns.sh mix, without and with the DO bit; BenchmarkSignUncached
// is what each answered RRset would cost if it were signed per query.
func BenchmarkAnswer(b *testing.B) {
	for _, do := range []bool{false, true} {
		name := "plain"
		if do {
			name = "DO"
		}
		b.Run(name, func(b *testing.B) {
			ts := startTestServer(b, func(o *Options) { signing(b, o) })
			var reqs []*dns.Msg
			for _, q := range []struct {
				n string
				t uint16
			}{{"example.net.", dns.TypeMX}, {"example.net.", dns.TypeTXT}, {"box.example.net.", dns.TypeA},
				{"mail._domainkey.example.net.", dns.TypeTXT}, {"_dmarc.example.net.", dns.TypeTXT}, {"nothing.example.net.", dns.TypeA},
				{"_submission._tcp.example.net.", dns.TypeSRV}, {"example.net.", dns.TypeSOA}, {"example.org.", dns.TypeA}, {"EXAMPLE.net.", dns.TypeNS}} {
				m := new(dns.Msg)
				m.SetQuestion(q.n, q.t)
				m.SetEdns0(1232, do)
				reqs = append(reqs, m)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				resp, _ := ts.srv.answer(reqs[i%len(reqs)], true)
				if _, err := resp.Pack(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSignUncached(b *testing.B) {
	k, err := newKey("example.net.", roleZSK, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	rr, err := dns.NewRR("example.net. 3600 IN MX 10 box.example.net.")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := &sigCache{}
		if _, err := c.sign("example.net.", k, []dns.RR{rr}, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
