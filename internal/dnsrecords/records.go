// Package dnsrecords computes the DNS records each hosted domain and the
// box's own hostname need (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT,
// autoconfig, RFC 6186 SRV, CAA, SOA/NS), merges the admin's custom
// records into them, renders them for people (a table named as DNS hosts
// want), for name servers (a zone file) and for scripts (JSON), and
// checks the world's DNS against them (check.go).
//
// It takes plain data (Input), not the store: cmd/boxmail builds the
// Input from the store and the config, and the DNS server (dnsd) serves
// the resulting Set.
//
// Zones: every hosted domain is a zone. The box's hostname belongs to the
// zone of the hosted domain it is under (box.example.net in example.net);
// a hostname under no hosted domain gets a zone of its own, so its
// records (A/AAAA and the SPF record that "include:HOSTNAME" relies on)
// are listed and served too.
//
// Custom records replace the generated records of the same name and type
// (a custom CNAME replaces every generated record of its name).
package dnsrecords

import (
	"cmp"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"boxmail/internal/mailauth"
)

// DefaultTTL is the TTL of generated records.
const DefaultTTL = 3600

// Input is what the record set is computed from.
type Input struct {
	// Hostname is the box's name (MX target, SRV target).
	Hostname string
	// IPv4 and IPv6 are the box's public addresses; either may be empty.
	IPv4, IPv6 []netip.Addr
	// Ports of the services advertised by SRV records (RFC 6186); 0
	// means the service is not offered.
	Submission, Submissions, IMAP, IMAPS, POP3S int
	// HTTPS is the port of the web server, where Outlook's autodiscover
	// answers (its SRV record); 0 means no web server.
	HTTPS   int
	Domains []Domain
	Custom  []Custom
	// Serial is the SOA serial; it must grow whenever the records change.
	Serial uint32
	// CAA lists the certificate authorities allowed to issue for the
	// domains; nil means letsencrypt.org.
	CAA []string
	// MTASTSEnforce says the MTA-STS policy served is "enforce" (the box
	// has a trusted certificate) rather than "testing"; the policy id in
	// the _mta-sts record changes with it, so senders fetch it again.
	MTASTSEnforce bool
	// TLSA are the DANE records of the box's certificate (RDATA such as
	// "3 1 1 <hex>", TLSAValue): the current key's and, while a key
	// change is pending, the next one's. They are published at
	// _25._tcp.HOSTNAME and at the submission and IMAPS ports.
	TLSA []string
	// DS are the DS records of the zones the box signs (RDATA by zone
	// apex, no trailing dot): what each zone's registrar publishes.
	DS map[string][]string
}

// Domain is a hosted domain.
type Domain struct {
	Name string
	DKIM []DKIMKey
}

// DKIMKey is a DKIM key whose public half is published.
type DKIMKey struct {
	Selector   string
	PrivatePEM string
}

// Custom is a record the admin added; Name is fully qualified, Value is
// RDATA in zone-file syntax (as ParseCustom returns it).
type Custom struct {
	Name, Type, Value string
}

// Record is one resource record with the reason it exists.
type Record struct {
	Zone  string `json:"zone"` // the zone it belongs to, no trailing dot
	Name  string `json:"name"` // fully qualified, lower-case, no trailing dot
	Type  string `json:"type"`
	TTL   uint32 `json:"ttl"`
	Value string `json:"value"` // RDATA in zone-file syntax
	Why   string `json:"why"`
	// Custom marks a record the admin added.
	Custom bool `json:"custom,omitempty"`
	// NameServer marks SOA and NS: needed only where the box itself is
	// the domain's name server.
	NameServer bool `json:"nameserver,omitempty"`
}

// Relative returns the name relative to its zone as DNS hosts show it:
// "@" for the apex, "mail._domainkey" for mail._domainkey.example.net.
func (r Record) Relative() string {
	if r.Name == r.Zone {
		return "@"
	}
	return strings.TrimSuffix(r.Name, "."+r.Zone)
}

// Text returns the value as a person pastes it into a DNS host's form:
// a TXT record's strings joined without quotes, other RDATA as is.
func (r Record) Text() string {
	if r.Type != "TXT" {
		return r.Value
	}
	rr, err := r.RR()
	if err != nil {
		return r.Value
	}
	return strings.Join(rr.(*dns.TXT).Txt, "")
}

// RR parses the record.
func (r Record) RR() (dns.RR, error) {
	return dns.NewRR(fmt.Sprintf("%s. %d IN %s %s", r.Name, r.TTL, r.Type, r.Value))
}

// Set is the computed record set.
type Set struct {
	// Zones are the apexes, sorted, no trailing dots.
	Zones   []string `json:"zones"`
	Records []Record `json:"records"`
	// DS are the records for each signed zone's registrar (Input.DS);
	// they belong in the parent zone, so they are not Records.
	DS map[string][]string `json:"ds,omitempty"`
}

// TLSAValue returns the DANE-EE TLSA RDATA of a certificate (RFC 7671,
// RFC 7672 3.1): usage 3, selector 1 (the public key), matching type 1
// (SHA-256), which stays valid while a renewal keeps the key.
func TLSAValue(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "3 1 1 " + hex.EncodeToString(sum[:])
}

// quoteTXT renders text as TXT RDATA: quoted strings of at most 255
// bytes (RFC 1035 3.3.14; long DKIM keys need several).
func quoteTXT(s string) string {
	var parts []string
	for {
		n := min(len(s), 255)
		// Do not split an escape-worthy byte from its neighbours: the
		// split is on raw bytes, escaping happens per part.
		part := s[:n]
		s = s[n:]
		var b strings.Builder
		b.WriteByte('"')
		for i := 0; i < len(part); i++ {
			c := part[i]
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20 || c >= 0x7f:
				fmt.Fprintf(&b, "\\%03d", c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
		parts = append(parts, b.String())
		if s == "" {
			break
		}
	}
	return strings.Join(parts, " ")
}

func under(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// ZoneOf returns the zone a name belongs to (the longest matching
// apex), or "".
func (s *Set) ZoneOf(name string) string {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	best := ""
	for _, z := range s.Zones {
		if under(name, z) && len(z) > len(best) {
			best = z
		}
	}
	return best
}

// Zone returns the records of one zone.
func (s *Set) Zone(zone string) []Record {
	var out []Record
	for _, r := range s.Records {
		if r.Zone == zone {
			out = append(out, r)
		}
	}
	return out
}

// Find returns the records of a name and type.
func (s *Set) Find(name, typ string) []Record {
	var out []Record
	for _, r := range s.Records {
		if r.Name == name && r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Build computes the record set. It fails only on a DKIM key that cannot
// be read.
func Build(in Input) (*Set, error) {
	h := strings.ToLower(strings.TrimSuffix(in.Hostname, "."))
	s := &Set{}
	hosted := map[string]bool{}
	for _, d := range in.Domains {
		n := strings.ToLower(strings.TrimSuffix(d.Name, "."))
		hosted[n] = true
		s.Zones = append(s.Zones, n)
	}
	hostZone := s.ZoneOf(h)
	if hostZone == "" && h != "" {
		s.Zones = append(s.Zones, h)
		hostZone = h
	}
	slices.Sort(s.Zones)
	s.Zones = slices.Compact(s.Zones)

	s.DS = in.DS
	b := &builder{in: in, h: h}
	for _, z := range s.Zones {
		soa := Record{Zone: z, Name: z, Type: "SOA", TTL: DefaultTTL, NameServer: true,
			Value: fmt.Sprintf("%s. hostmaster.%s. %d 3600 900 1209600 300", h, z, in.Serial),
			Why:   "start of authority: only where the box is the zone's name server"}
		ns := Record{Zone: z, Name: z, Type: "NS", TTL: DefaultTTL, NameServer: true, Value: h + ".",
			Why: "the box answers for the zone: set at the registrar (with the box's IP as glue if the name is inside the zone)"}
		b.recs = append(b.recs, soa, ns)
	}
	if h != "" {
		b.host(hostZone, hosted[h])
		b.tlsa(hostZone)
	}
	for _, d := range in.Domains {
		if err := b.domain(d); err != nil {
			return nil, err
		}
	}
	recs := withCustom(s, b.recs, in.Custom)
	rank := func(typ string) int {
		switch typ {
		case "SOA":
			return 0
		case "NS":
			return 1
		}
		return 2
	}
	slices.SortStableFunc(recs, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Zone, b.Zone), cmp.Compare(nameKey(a), nameKey(b)), cmp.Compare(rank(a.Type), rank(b.Type)))
	})
	s.Records = recs
	return s, nil
}

// builder collects the generated records of one Build.
type builder struct {
	in   Input
	h    string // the box's hostname, lower case, no trailing dot
	recs []Record
}

func (b *builder) add(zone, name, typ, value, why string) {
	b.recs = append(b.recs, Record{Zone: zone, Name: name, Type: typ, TTL: DefaultTTL, Value: value, Why: why})
}

// addrs publishes the box's addresses at name, or a CNAME to the
// hostname when no address is configured.
func (b *builder) addrs(zone, name, why string) {
	if len(b.in.IPv4)+len(b.in.IPv6) == 0 {
		if name != b.h {
			b.add(zone, name, "CNAME", b.h+".", why)
		}
		return
	}
	for _, ip := range b.in.IPv4 {
		b.add(zone, name, "A", ip.String(), why)
	}
	for _, ip := range b.in.IPv6 {
		b.add(zone, name, "AAAA", ip.String(), why)
	}
}

// host adds the records of the box's own name; a hostname that is not
// itself a hosted domain gets an SPF record of its own.
func (b *builder) host(zone string, hosted bool) {
	h, in := b.h, b.in
	b.addrs(zone, h, "the box's hostname: MX, SRV and include:"+h+" point here")
	if hosted {
		return
	}
	var spf strings.Builder
	spf.WriteString("v=spf1")
	for _, ip := range in.IPv4 {
		spf.WriteString(" ip4:" + ip.String())
	}
	for _, ip := range in.IPv6 {
		spf.WriteString(" ip6:" + ip.String())
	}
	if len(in.IPv4)+len(in.IPv6) == 0 {
		spf.WriteString(" a")
	}
	spf.WriteString(" -all")
	b.add(zone, h, "TXT", quoteTXT(spf.String()),
		"SPF of the hostname: lets include:"+h+" in any domain's SPF record authorise the box (without it the include is a permerror), and covers bounces sent with HELO "+h)
}

// TLSATTL is the TTL of the TLSA records: short, because the ACME
// certificate manager makes a new key at each renewal and the records
// follow it only then; a sender holding the old record defers its mail
// (RFC 7672 2.2) until its copy expires, so at most this long.
const TLSATTL = 300

// tlsa adds the DANE records of the box's certificate (RFC 7672 for
// SMTP on port 25, RFC 7671 for the submission and IMAP ports). They
// count only in a DNSSEC-signed zone, and they must follow every change
// of the certificate's key, so they are for the box's own name server
// (NameServer): a DNS host's copy would go stale at the next new key.
func (b *builder) tlsa(zone string) {
	ports := []int{25}
	for _, p := range []int{b.in.Submissions, b.in.Submission, b.in.IMAPS} {
		if p != 0 && !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	for _, p := range ports {
		for _, v := range b.in.TLSA {
			b.recs = append(b.recs, Record{Zone: zone, Name: fmt.Sprintf("_%d._tcp.%s", p, b.h), Type: "TLSA", TTL: TLSATTL, Value: v, NameServer: true,
				Why: fmt.Sprintf("DANE: senders that validate DNSSEC check the box's certificate key on port %d against it", p)})
		}
	}
}

// domain adds the records of one hosted domain.
func (b *builder) domain(d Domain) error {
	h, in := b.h, b.in
	z := strings.ToLower(strings.TrimSuffix(d.Name, "."))
	b.add(z, z, "MX", "10 "+h+".", "mail for @"+z+" is delivered to the box")
	b.add(z, z, "TXT", quoteTXT("v=spf1 mx -all"), "SPF: only the domain's mail servers (the box, via MX) may send as @"+z+"; during a migration see 'boxmail spf include'")
	for _, k := range d.DKIM {
		v, err := mailauth.DKIMRecord(k.PrivatePEM)
		if err != nil {
			return fmt.Errorf("DKIM key %s of %s: %w", k.Selector, z, err)
		}
		b.add(z, k.Selector+"._domainkey."+z, "TXT", quoteTXT(v), "DKIM public key: receivers verify the box's signatures with it")
	}
	b.add(z, "_dmarc."+z, "TXT", quoteTXT("v=DMARC1; p=quarantine; rua=mailto:postmaster@"+z), "DMARC: receivers put mail that fails both SPF and DKIM for @"+z+" in spam")
	sum := sha256.Sum256([]byte(fmt.Sprintf("mx:%s enforce:%v", h, in.MTASTSEnforce)))
	b.add(z, "_mta-sts."+z, "TXT", quoteTXT("v=STSv1; id="+hex.EncodeToString(sum[:6])), "MTA-STS: senders must use TLS to the box (policy at https://mta-sts."+z+"/.well-known/mta-sts.txt)")
	b.addrs(z, "mta-sts."+z, "serves the MTA-STS policy")
	b.add(z, "_smtp._tls."+z, "TXT", quoteTXT("v=TLSRPTv1; rua=mailto:postmaster@"+z), "TLS-RPT: where senders report TLS failures")
	b.addrs(z, "autoconfig."+z, "Thunderbird-style mail client autoconfiguration")
	b.addrs(z, "autodiscover."+z, "Outlook-style mail client autodiscovery")
	srv := func(svc string, port int, what string) {
		if port == 0 {
			b.add(z, svc+"."+z, "SRV", "0 0 0 .", what+" is not offered (RFC 6186: target \".\")")
			return
		}
		b.add(z, svc+"."+z, "SRV", fmt.Sprintf("0 1 %d %s.", port, h), "mail clients find "+what+" (RFC 6186)")
	}
	srv("_submission._tcp", in.Submission, "submission with STARTTLS")
	srv("_submissions._tcp", in.Submissions, "submission with implicit TLS (RFC 8314)")
	srv("_imap._tcp", in.IMAP, "IMAP with STARTTLS")
	srv("_imaps._tcp", in.IMAPS, "IMAP with implicit TLS")
	srv("_pop3s._tcp", in.POP3S, "POP3 with implicit TLS")
	srv("_autodiscover._tcp", in.HTTPS, "Outlook's autodiscover service")
	// Contacts and calendars (CardDAV/CalDAV on the web server, RFC 6764):
	// the SRV record names the server, the TXT record the path under it.
	for _, d := range []struct{ svc, what string }{{"_carddavs._tcp", "contacts (CardDAV)"}, {"_caldavs._tcp", "calendars (CalDAV)"}} {
		if in.HTTPS == 0 {
			b.add(z, d.svc+"."+z, "SRV", "0 0 0 .", d.what+" are not offered (RFC 6764: target \".\")")
			continue
		}
		b.add(z, d.svc+"."+z, "SRV", fmt.Sprintf("0 1 %d %s.", in.HTTPS, h), "phones and calendar apps find "+d.what+" (RFC 6764)")
		b.add(z, d.svc+"."+z, "TXT", quoteTXT("path=/dav/"), "the path of "+d.what+" on that server (RFC 6764 section 4)")
	}
	caa := in.CAA
	if caa == nil {
		caa = []string{"letsencrypt.org"}
	}
	for _, ca := range caa {
		b.add(z, z, "CAA", fmt.Sprintf("0 issue %q", ca), "only "+ca+" may issue TLS certificates for "+z)
	}
	return nil
}

// withCustom returns recs with the admin's custom records added: a
// custom record replaces generated ones of the same name and type, and a
// custom CNAME replaces every generated record of its name (SOA aside).
func withCustom(s *Set, recs []Record, customs []Custom) []Record {
	type nt struct{ name, typ string }
	custom := map[nt]bool{}
	customNames := map[string]string{} // name -> "CNAME" if a custom CNAME, else "other"
	var customRecs []Record
	for _, c := range customs {
		name := strings.ToLower(strings.TrimSuffix(c.Name, "."))
		z := s.ZoneOf(name)
		if z == "" {
			continue // its domain was removed
		}
		typ := strings.ToUpper(c.Type)
		custom[nt{name, typ}] = true
		if typ == "CNAME" || customNames[name] == "" {
			customNames[name] = map[bool]string{true: "CNAME", false: "other"}[typ == "CNAME"]
		}
		customRecs = append(customRecs, Record{Zone: z, Name: name, Type: typ, TTL: DefaultTTL, Value: c.Value, Why: "custom record", Custom: true})
	}
	recs = slices.DeleteFunc(recs, func(r Record) bool {
		if r.Type == "SOA" {
			return false
		}
		switch customNames[r.Name] {
		case "CNAME":
			return true
		case "other":
			if r.Type == "CNAME" {
				return true
			}
		}
		return custom[nt{r.Name, r.Type}]
	})
	return append(recs, customRecs...)
}

// nameKey sorts the apex first, then names by their reversed labels.
func nameKey(r Record) string {
	if r.Name == r.Zone {
		return ""
	}
	l := strings.Split(r.Relative(), ".")
	slices.Reverse(l)
	return "." + strings.Join(l, ".")
}
