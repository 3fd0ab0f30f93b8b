package metrics

import (
	"strings"
	"time"
)

// The methods the servers call as they work. Each is safe on a nil
// *Metrics and costs a label lookup and an atomic add.

// MessageReceived counts one message's DATA: Accepted, Rejected or
// Deferred.
func (m *Metrics) MessageReceived(result string) {
	if m != nil {
		m.received.WithLabelValues(result).Inc()
	}
}

// Outbound counts the result of a delivery attempt to one recipient
// (Delivered, Deferred, Bounced), by the class of its domain.
func (m *Metrics) Outbound(result, domain string) {
	if m != nil {
		m.outbound.WithLabelValues(result, DomainClass(domain)).Inc()
	}
}

// domainClasses are the values of the class label: the providers most
// of a family's mail goes to, then everything else, so that a problem
// with one of them (a block, a TLS failure) shows without a label per
// domain.
var domainClasses = []string{"gmail", "microsoft", "yahoo", "apple", "other"}

// providerDomains maps the big providers' consumer domains to their class.
var providerDomains = map[string]string{
	"gmail.com": "gmail", "googlemail.com": "gmail",
	"outlook.com": "microsoft", "hotmail.com": "microsoft", "live.com": "microsoft", "msn.com": "microsoft",
	"yahoo.com": "yahoo", "ymail.com": "yahoo", "aol.com": "yahoo", "rocketmail.com": "yahoo",
	"icloud.com": "apple", "me.com": "apple", "mac.com": "apple",
}

// DomainClass is the class label of a recipient domain (or address):
// one of domainClasses. Country variants (hotmail.de, yahoo.co.uk)
// count with their provider.
func DomainClass(domain string) string {
	if at := strings.LastIndexByte(domain, '@'); at >= 0 {
		domain = domain[at+1:]
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if c, ok := providerDomains[domain]; ok {
		return c
	}
	name, _, _ := strings.Cut(domain, ".")
	switch name {
	case "hotmail", "outlook", "live":
		return "microsoft"
	case "yahoo":
		return "yahoo"
	}
	return "other"
}

// SpamVerdict counts the spam filter's verdict on one inbound message
// (inbox, junk, reject).
func (m *Metrics) SpamVerdict(verdict string) {
	if m != nil {
		m.spam.WithLabelValues(verdict).Inc()
	}
}

// Login counts a login attempt over protocol (smtp, submission, imap,
// pop3).
func (m *Metrics) Login(protocol string, ok bool) {
	if m == nil {
		return
	}
	r := "failed"
	if ok {
		r = "ok"
	}
	m.logins.WithLabelValues(protocol, r).Inc()
}

// LoginBlock counts a client network blocked by the login limiter.
func (m *Metrics) LoginBlock() {
	if m != nil {
		m.blocks.Inc()
	}
}

// Session counts a session of protocol as open and returns the function
// that closes it: defer m.Session("imap")().
func (m *Metrics) Session(protocol string) (closed func()) {
	if m == nil {
		return func() {}
	}
	g := m.sessions.WithLabelValues(protocol)
	g.Inc()
	return g.Dec
}

// Idle counts an IMAP connection in IDLE and returns the function that
// ends it: defer m.Idle()().
func (m *Metrics) Idle() (ended func()) {
	if m == nil {
		return func() {}
	}
	m.idle.Inc()
	return m.idle.Dec
}

// DNSQuery counts a query the DNS server answered, by its response code
// as miekg/dns names it (NOERROR, NXDOMAIN, REFUSED, ...).
func (m *Metrics) DNSQuery(rcode string) {
	if m != nil {
		m.dns.WithLabelValues(rcode).Inc()
	}
}

// StoreCommit observes one group commit of the store: how many write
// functions shared it and how long its COMMIT (the WAL fsync) took. It
// fits store.Options.OnCommit.
func (m *Metrics) StoreCommit(batch int, commit time.Duration) {
	if m != nil {
		m.batch.Observe(float64(batch))
		m.commitTime.Observe(commit.Seconds())
	}
}
