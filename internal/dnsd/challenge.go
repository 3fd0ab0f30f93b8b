package dnsd

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// The ACME DNS-01 challenge records (RFC 8555 8.4): TXT records at
// _acme-challenge.NAME that the certificate manager adds while the CA
// checks them and removes after. They live in memory, next to the zones
// built from the store, and answer with a short TTL; on a box of several
// nodes they are in the store too (Options.SharedChallenges), so the
// node the CA asks serves the records of the node that orders.

// challengeTTL is the TTL of a challenge record: CAs must not cache it.
const challengeTTL = 10

// challengeRefresh bounds the zone reload AddChallenge may do.
const challengeRefresh = 5 * time.Second

// challengeLabel starts every challenge record's name.
const challengeLabel = "_acme-challenge."

// AddChallenge serves a TXT record value at name (which must start with
// _acme-challenge. and lie in one of the zones) until RemoveChallenge.
// Several values at one name are all served. A name outside the zones
// loaded makes the zones reload first if the store changed: the
// certificate manager asks for a domain's challenge as soon as the
// domain is added, before the next poll would have loaded its zone, and
// the CA would be answered REFUSED.
func (s *Server) AddChallenge(name, value string) {
	name = dns.Fqdn(strings.ToLower(name))
	if z := s.zones.Load(); z == nil || z.findZone(name) == nil {
		ctx, cancel := context.WithTimeout(context.Background(), challengeRefresh)
		if err := s.Refresh(ctx); err != nil {
			s.log.Warn("reloading the zones for an ACME challenge", "name", name, "err", err)
		}
		cancel()
	}
	s.chMu.Lock()
	if s.challenges == nil {
		s.challenges = map[string][]string{}
	}
	s.challenges[name] = append(s.challenges[name], value)
	s.chMu.Unlock()
	s.resign()
}

// resign rebuilds a signed zone set after a challenge changed, so that
// its NSEC chain names the challenge (a resolver must not deny the name
// from an NSEC it holds, RFC 8198).
func (s *Server) resign() {
	if s.opts.Keys == nil {
		return
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.set == nil {
		return
	}
	if err := s.build(s.set); err != nil {
		s.log.Warn("signing the zones for an ACME challenge", "err", err)
	}
}

// loadSharedChallenges reads Options.SharedChallenges (a zone build);
// on an error the last ones read stay.
func (s *Server) loadSharedChallenges() {
	if s.opts.SharedChallenges == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), challengeRefresh)
	defer cancel()
	shared, err := s.opts.SharedChallenges(ctx)
	if err != nil {
		s.log.Warn("reading the ACME challenges of the other nodes", "err", err)
		return
	}
	s.chMu.Lock()
	s.shared = shared
	s.chMu.Unlock()
}

// challengeValues returns the values served at name: AddChallenge's and
// the shared ones, once each; called with chMu held.
func (s *Server) challengeValues(name string) []string {
	vs := append([]string(nil), s.challenges[name]...)
	for _, v := range s.shared[name] {
		if !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	return vs
}

// challengeRRs returns the challenge records, for a signed zone set.
func (s *Server) challengeRRs() []dns.RR {
	s.chMu.Lock()
	defer s.chMu.Unlock()
	names := map[string]bool{}
	for n := range s.challenges {
		names[n] = true
	}
	for n := range s.shared {
		names[n] = true
	}
	var out []dns.RR
	for _, name := range slices.Sorted(maps.Keys(names)) {
		for _, v := range s.challengeValues(name) {
			out = append(out, challengeTXT(name, v))
		}
	}
	return out
}

func challengeTXT(name, value string) dns.RR {
	return &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: challengeTTL}, Txt: []string{value}}
}

// RemoveChallenge stops serving one value added by AddChallenge.
func (s *Server) RemoveChallenge(name, value string) {
	name = dns.Fqdn(strings.ToLower(name))
	defer s.resign()
	s.chMu.Lock()
	defer s.chMu.Unlock()
	vs := s.challenges[name]
	for i, v := range vs {
		if v == value {
			vs = append(vs[:i:i], vs[i+1:]...)
			break
		}
	}
	if len(vs) == 0 {
		delete(s.challenges, name)
	} else {
		s.challenges[name] = vs
	}
}

// challenge answers a TXT question for a challenge name in one of the
// zones; it returns false when the question is not one.
func (s *Server) challenge(m *dns.Msg, q dns.Question, zs *zoneSet) bool {
	name := strings.ToLower(q.Name)
	if q.Qtype != dns.TypeTXT || !strings.HasPrefix(name, challengeLabel) {
		return false
	}
	s.chMu.Lock()
	vs := s.challengeValues(name)
	s.chMu.Unlock()
	if len(vs) == 0 || zs.findZone(name) == nil {
		return false
	}
	m.Authoritative = true
	for _, v := range vs {
		m.Answer = append(m.Answer, challengeTXT(q.Name, v))
	}
	return true
}
