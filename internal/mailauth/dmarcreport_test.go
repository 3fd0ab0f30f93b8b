package mailauth

import (
	"context"
	"testing"

	"boxmail/internal/resolver"
)

// The verdict carries what an aggregate report needs: the policy as
// published (found at the organizational domain for a subdomain) and
// the DKIM and SPF halves of the evaluation, both even when one passes.
func TestDMARCResultCarriesThePublishedPolicyAndBothHalves(t *testing.T) {
	r := resolver.NewFake(`_dmarc.example.org. TXT "v=DMARC1; p=reject; sp=quarantine; aspf=s; pct=50; rua=mailto:agg@example.org,mailto:x@reports.example!5m"`)
	ctx := context.Background()
	res := CheckDMARC(ctx, r, DMARCInput{FromDomain: "news.example.org", SPF: "pass", SPFDomain: "news.example.org",
		DKIM: []DKIMResult{{Result: "pass", Domain: "example.org"}}})
	p := res.Published
	if res.Result != "pass" || !res.DKIMAligned || !res.SPFAligned || p == nil || p.Domain != "example.org" || p.P != "reject" || p.SP != "quarantine" ||
		p.ASPF != "s" || p.ADKIM != "r" || p.Pct != 50 || len(p.RUA) != 2 || p.RUA[1] != "mailto:x@reports.example!5m" {
		t.Fatalf("%+v %+v", res, p)
	}
	// SPF for the organizational domain does not align strictly.
	res = CheckDMARC(ctx, r, DMARCInput{FromDomain: "news.example.org", SPF: "pass", SPFDomain: "example.org"})
	if res.Result != "fail" || res.DKIMAligned || res.SPFAligned || res.Published == nil {
		t.Fatalf("%+v", res)
	}
	if res := CheckDMARC(ctx, resolver.NewFake(), DMARCInput{FromDomain: "none.example"}); res.Published != nil || res.Result != "none" {
		t.Fatalf("no policy: %+v", res)
	}
}
