package sieve

import (
	"strings"
	"testing"
)

// BenchmarkParseAndRun is the cost delivery pays per local recipient
// with an active script: parsing the seed's forward-and-keep rule plus
// the RFC 5228 example, and running it on a small message.
func BenchmarkParseAndRun(b *testing.B) {
	src := "require [\"fileinto\", \"copy\"];\n" + "if true { redirect :copy \"old@oldprovider.example\"; }\n" + rfcExample[strings.Index(rfcExample, "if header"):]
	m := msg("From: mum@family.test\nTo: me@example.com\nSubject: dinner\n", "Come at 7.\r\n")
	b.ReportAllocs()
	for b.Loop() {
		s, err := Parse(src)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Run(m, RunOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
