package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"boxmail/internal/publicnet"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// MTA-STS (RFC 8461): a recipient domain that publishes
// _mta-sts.DOMAIN TXT "v=STSv1; id=..." serves a policy at
// https://mta-sts.DOMAIN/.well-known/mta-sts.txt saying which MX hosts
// are its own and whether TLS with a valid certificate is required
// ("enforce") or only reported ("testing"). The policy is cached in the
// store (store/tlspolicy.go) until max_age passes or the TXT id changes.

// stsPolicy is a parsed MTA-STS policy (RFC 8461 3.2).
type stsPolicy struct {
	Mode   string   // "enforce", "testing" or "none"
	MX     []string // host patterns, lower case; "*.example.net" matches one label
	MaxAge time.Duration
	Text   string // as served, for the cache and TLS-RPT's policy-string
}

const (
	maxSTSPolicyBytes = 64 << 10
	maxSTSMaxAge      = 31557600 // RFC 8461 3.2: about a year
	stsFetchTimeout   = 20 * time.Second
)

// parseSTSPolicy parses a policy file. Unknown fields are ignored (RFC
// 8461 3.2); a field given twice keeps its first value, except mx.
func parseSTSPolicy(b []byte) (*stsPolicy, error) {
	if len(b) > maxSTSPolicyBytes {
		return nil, fmt.Errorf("policy larger than %d bytes", maxSTSPolicyBytes)
	}
	if !utf8.Valid(b) {
		return nil, errors.New("policy is not UTF-8")
	}
	p := &stsPolicy{Text: string(b)}
	seen := map[string]bool{}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("line %d: not a field", n+1)
		}
		v = strings.Trim(v, " \t")
		if seen[k] && k != "mx" {
			continue
		}
		seen[k] = true
		if err := p.setField(k, v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
	}
	switch {
	case !seen["version"]:
		return nil, errors.New("no version field")
	case !seen["mode"]:
		return nil, errors.New("no mode field")
	case !seen["max_age"]:
		return nil, errors.New("no max_age field")
	case p.Mode != "none" && len(p.MX) == 0:
		return nil, fmt.Errorf("mode %s without mx fields", p.Mode)
	}
	return p, nil
}

func (p *stsPolicy) setField(k, v string) error {
	switch k {
	case "version":
		if v != "STSv1" {
			return fmt.Errorf("version %q, want STSv1", v)
		}
	case "mode":
		if v != "enforce" && v != "testing" && v != "none" {
			return fmt.Errorf("mode %q, want enforce, testing or none", v)
		}
		p.Mode = v
	case "max_age":
		if v == "" || len(v) > 10 || strings.Trim(v, "0123456789") != "" {
			return fmt.Errorf("max_age %q is not a number of seconds", v)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n > maxSTSMaxAge {
			return fmt.Errorf("max_age %q above %d", v, maxSTSMaxAge)
		}
		p.MaxAge = time.Duration(n) * time.Second
	case "mx":
		pat := strings.ToLower(strings.TrimSuffix(v, "."))
		if !validMXPattern(pat) {
			return fmt.Errorf("mx %q is not a host name pattern", v)
		}
		p.MX = append(p.MX, pat)
	}
	return nil
}

// validMXPattern: a host name, optionally with "*." in front.
func validMXPattern(p string) bool {
	p = strings.TrimPrefix(p, "*.")
	if p == "" || len(p) > 253 || !strings.Contains(p, ".") {
		return false
	}
	for _, l := range strings.Split(p, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// matchMX reports whether the policy names host (RFC 8461 4.1: a
// wildcard stands for exactly the leftmost label).
func (p *stsPolicy) matchMX(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if _, suffix, ok := strings.Cut(host, "."); ok && suffix == rest {
				return true
			}
		} else if host == pat {
			return true
		}
	}
	return false
}

// stsRecordID returns the id of the one "v=STSv1" TXT record (RFC 8461
// 3.1); more than one is an error, as is none.
func stsRecordID(txts []string) (string, error) {
	var id string
	n := 0
	for _, t := range txts {
		if !strings.HasPrefix(t, "v=STSv1") {
			continue
		}
		n++
		for _, f := range strings.Split(t, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
			if k == "id" {
				id = v
			}
		}
	}
	switch {
	case n == 0:
		return "", errors.New("no v=STSv1 record")
	case n > 1:
		return "", errors.New("more than one v=STSv1 record")
	case id == "" || len(id) > 32:
		return "", errors.New("v=STSv1 record without a valid id")
	}
	return id, nil
}

// stsLookup is the outcome of finding a domain's policy.
type stsLookup struct {
	policy  *stsPolicy // nil: no policy applies
	failure string     // RFC 8460 result type when fetching failed
	detail  string
}

// mtaSTS returns the policy that applies to domain now: the cached one
// while its TXT id is unchanged and max_age has not passed, else a fresh
// fetch; a failed fetch keeps an unexpired cached policy (RFC 8461 5.1).
func (q *Queue) mtaSTS(ctx context.Context, domain string) stsLookup {
	now := q.o.now()
	cached, have, err := q.d.st.MTASTSPolicy(ctx, domain)
	if err != nil {
		q.log.Error("reading the cached MTA-STS policy", "domain", domain, "err", err)
	}
	var cp *stsPolicy
	if have && now.Before(cached.Expires) {
		if cp, err = parseSTSPolicy([]byte(cached.Text)); err != nil {
			cp = nil
		}
	}
	keep := func(l stsLookup) stsLookup {
		if cp != nil && cp.Mode != "none" {
			l.policy = cp
		}
		return l
	}
	txts, err := resolver.LookupTXT(ctx, q.o.Resolver, "_mta-sts."+domain)
	if err != nil {
		return keep(stsLookup{}) // no record (or DNS down): a cached policy still holds
	}
	id, err := stsRecordID(txts)
	if err != nil {
		return keep(stsLookup{})
	}
	if cp != nil && cached.ID == id {
		return keep(stsLookup{})
	}
	p, err := q.fetchSTS(ctx, domain)
	if err != nil {
		q.log.Info("MTA-STS policy not fetched", "domain", domain, "err", err)
		kind := "sts-policy-fetch-error"
		var pe *stsParseError
		if errors.As(err, &pe) {
			kind = "sts-policy-invalid"
		}
		return keep(stsLookup{failure: kind, detail: err.Error()})
	}
	sp := store.MTASTSPolicy{Domain: domain, ID: id, Text: p.Text, Fetched: now, Expires: now.Add(p.MaxAge)}
	if err := q.d.st.PutMTASTSPolicy(ctx, sp); err != nil {
		q.log.Error("caching the MTA-STS policy", "domain", domain, "err", err)
	}
	if p.Mode == "none" {
		return stsLookup{}
	}
	return stsLookup{policy: p}
}

// stsParseError is a fetched policy that does not parse.
type stsParseError struct{ err error }

func (e *stsParseError) Error() string { return "policy invalid: " + e.err.Error() }
func (e *stsParseError) Unwrap() error { return e.err }

// fetchSTS fetches and parses the policy of domain through the guarded
// client: HTTPS with a valid certificate, no redirects, bounded in size
// and time (RFC 8461 3.3).
func (q *Queue) fetchSTS(ctx context.Context, domain string) (*stsPolicy, error) {
	ctx, cancel := context.WithTimeout(ctx, stsFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://mta-sts."+domain+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return nil, err
	}
	resp, err := q.stsClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }() // read up to the cap below; nothing to keep
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("policy fetch answered %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxSTSPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the policy: %w", err)
	}
	p, err := parseSTSPolicy(b)
	if err != nil {
		return nil, &stsParseError{err}
	}
	return p, nil
}

// stsClient is the one HTTP client of policy fetches (publicnet's): it
// resolves through the queue's resolver, connects only to addresses
// mayConnect allows, and refuses redirects (RFC 8461 3.3).
func (q *Queue) stsClient() *http.Client {
	q.stsOnce.Do(func() {
		port := q.o.MTASTSPort
		if port == 0 {
			port = 443
		}
		q.sts = publicnet.Client(publicnet.Options{
			Lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
				return resolver.LookupIP(ctx, q.o.Resolver, host)
			},
			Allow:          func(ap netip.AddrPort) bool { return q.mayConnect(ap.Addr()) },
			Port:           port,
			Timeout:        stsFetchTimeout,
			DialTimeout:    q.o.DialTimeout,
			MaxHeaderBytes: 16 << 10,
		})
	})
	return q.sts
}

// mayConnect reports whether an address found in DNS may be connected to.
func (q *Queue) mayConnect(ip netip.Addr) bool {
	return publicNextHop(ip) || q.o.allowPrivate || q.o.AllowLoopback && ip.Unmap().IsLoopback()
}
