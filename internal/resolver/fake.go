package resolver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// Fake is an in-memory Resolver for tests: records are given in zone-file
// syntax, and any name/type can be made to fail temporarily.
type Fake struct {
	mu      sync.Mutex
	rrs     map[fakeKey][]dns.RR
	names   map[string]bool
	fail    map[fakeKey]bool
	secure  []string // zones whose answers are Authentic (DNSSEC-signed)
	queries int
}

type fakeKey struct {
	name  string
	qtype uint16
}

var _ Resolver = (*Fake)(nil)

// NewFake returns a Fake holding the records (zone-file lines such as
// "example.net. MX 10 mx.example.net."); it panics on a bad line, since
// records are part of the test's source.
func NewFake(records ...string) *Fake {
	f := &Fake{rrs: map[fakeKey][]dns.RR{}, names: map[string]bool{}, fail: map[fakeKey]bool{}}
	if err := f.Add(records...); err != nil {
		panic(err)
	}
	return f
}

// Add adds records in zone-file syntax.
func (f *Fake) Add(records ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil {
			return fmt.Errorf("record %q: %w", s, err)
		}
		if rr == nil {
			continue
		}
		h := rr.Header()
		h.Name = strings.ToLower(h.Name)
		k := fakeKey{h.Name, h.Rrtype}
		f.rrs[k] = append(f.rrs[k], rr)
		// Every name up to the root exists (empty non-terminals).
		for n := h.Name; n != "."; {
			f.names[n] = true
			i := strings.IndexByte(n, '.')
			n = n[i+1:]
			if n == "" {
				break
			}
		}
	}
	return nil
}

// Fail makes lookups of name/qtype fail temporarily (as SERVFAIL would).
func (f *Fake) Fail(name string, qtype uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[fakeKey{Fqdn(name), qtype}] = true
}

// Secure makes answers for names in the zones (and below them)
// Authentic, as a validating resolver answers for a signed zone; ServeDNS
// then sets the AD bit.
func (f *Fake) Secure(zones ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, z := range zones {
		f.secure = append(f.secure, Fqdn(z))
	}
}

func (f *Fake) isSecure(name string) bool {
	for _, z := range f.secure {
		if name == z || strings.HasSuffix(name, "."+z) {
			return true
		}
	}
	return false
}

// Queries returns how many lookups were made.
func (f *Fake) Queries() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries
}

// Lookup implements Resolver, following CNAMEs inside the fake.
func (f *Fake) Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	if err := ctx.Err(); err != nil {
		return nil, &Error{Name: name, Type: dns.TypeToString[qtype], Temporary: true, Err: err}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries++
	name = Fqdn(name)
	tname := dns.TypeToString[qtype]
	a := &Answer{Authentic: f.isSecure(name)}
	for range 8 {
		if f.fail[fakeKey{name, qtype}] {
			return nil, &Error{Name: name, Type: tname, Temporary: true, Err: errors.New("SERVFAIL (fake)")}
		}
		if rrs := f.rrs[fakeKey{name, qtype}]; len(rrs) > 0 {
			a.Records = append(a.Records, rrs...)
			return a, nil
		}
		if c := f.rrs[fakeKey{name, dns.TypeCNAME}]; len(c) > 0 && qtype != dns.TypeCNAME {
			a.Records = append(a.Records, c[0])
			name = strings.ToLower(c[0].(*dns.CNAME).Target)
			continue
		}
		if f.names[name] {
			return a, nil // NODATA
		}
		return nil, &Error{Name: name, Type: tname, NotFound: true}
	}
	return nil, &Error{Name: name, Type: tname, Temporary: true, Err: errors.New("CNAME chain too long")}
}

// ServeDNS answers q from the fake, so that a test can put it behind a
// real DNS server: SERVFAIL for a failing name, NXDOMAIN for an unknown
// one, NODATA or the records otherwise.
func (f *Fake) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	if len(q.Question) == 1 {
		a, err := f.Lookup(context.Background(), q.Question[0].Name, q.Question[0].Qtype)
		switch {
		case IsTemporary(err):
			m.Rcode = dns.RcodeServerFailure
		case err != nil:
			m.Rcode = dns.RcodeNameError
		default:
			m.Answer = a.Records
			m.AuthenticatedData = a.Authentic
		}
	}
	w.WriteMsg(m)
}
