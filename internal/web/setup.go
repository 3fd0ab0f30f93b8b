package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"boxmail/internal/delivery"
)

// settings is what a device needs for one address (or domain).
type settings struct {
	Domain, Server string
	Email          string // on /setup, from ?email= ("": "your full email address")
	Svc            Services
}

type setupData struct {
	settings
	// Shared: the page was opened from a link someone sent (it has its
	// parameters) or on the box's own hostname, so it is read by a family
	// member: settings and device steps first, the admin's form collapsed.
	Shared    bool
	DomainErr string
	ServerErr string
	// SelfSigned: the box's certificate is not one devices trust, so
	// they warn once; with a CA-issued one (ACME or installed) the page
	// says nothing about warnings.
	SelfSigned bool
	// DAV: the box serves contacts and calendars; DAVURL is the address
	// to type into a client that asks for one.
	DAV    bool
	DAVURL string
}

// defaultDomain is the first hosted domain (the box's own).
func (s *Server) defaultDomain(r *http.Request) string {
	ds, err := s.o.Store.Domains(r.Context())
	if err != nil || len(ds) == 0 {
		return s.o.Hostname
	}
	for _, d := range ds {
		if strings.HasSuffix(s.o.Hostname, "."+d.Name) {
			return d.Name
		}
	}
	return ds[0].Name
}

// onOwnHost reports whether the request names the box's own hostname
// (with any port).
func (s *Server) onOwnHost(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return s.o.Hostname != "" && strings.EqualFold(host, s.o.Hostname)
}

// setupPage is public: it fills the settings table for any domain and
// server typed in, so an admin can send the link to family members
// (/setup?domain=...&server=...&email=...).
func (s *Server) setupPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := setupData{settings: settings{Domain: strings.TrimSpace(q.Get("domain")), Server: strings.TrimSpace(q.Get("server")), Svc: s.o.Services}}
	if a, err := delivery.ParseAddress(strings.TrimSpace(q.Get("email"))); err == nil {
		d.Email = a.String()
		if d.Domain == "" {
			d.Domain = a.Domain
		}
	}
	d.Shared = d.Domain != "" || d.Server != "" || d.Email != ""
	if d.Domain == "" {
		d.Domain = s.defaultDomain(r)
		d.Shared = d.Shared || s.onOwnHost(r) && d.Domain != s.o.Hostname
	} else if v, err := delivery.ParseDomain(d.Domain); err != nil {
		d.DomainErr = "That does not look like an email domain (the part after the @, such as example.net)."
	} else {
		d.Domain = v
	}
	if d.Server == "" {
		d.Server = s.o.Hostname
	} else if v, err := delivery.ParseDomain(d.Server); err != nil {
		d.ServerErr = "That does not look like a server name (such as box.example.net)."
	} else {
		d.Server = v
	}
	if d.DomainErr != "" || d.ServerErr != "" {
		d.Shared = false // the form has something to fix: show it first
	}
	if s.o.Certificate != nil {
		_, trusted := s.o.Certificate()
		d.SelfSigned = !trusted
	}
	if d.DAV = s.o.DAV != nil; d.DAV {
		d.DAVURL = "https://" + d.Server
		if s.o.HTTPSPort != 443 {
			d.DAVURL += ":" + strconv.Itoa(s.o.HTTPSPort)
		}
		d.DAVURL += "/dav/"
	}
	s.render(w, r, "setup", page{Title: "Set up your devices", Data: d})
}

// setupURL is the /setup link for one address, to send or to follow.
func setupURL(email, domain, server string) string {
	q := url.Values{"domain": {domain}, "server": {server}}
	if email != "" {
		q.Set("email", email)
	}
	return (&url.URL{Path: "/setup", RawQuery: q.Encode()}).String()
}

// plistEscape escapes text for an XML plist.
func plistEscape(v string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(v)) // a strings.Builder never fails a write
	return b.String()
}

// uuidFor derives a stable UUID from a string, so a profile downloaded
// twice replaces itself instead of adding a second account.
func uuidFor(s string) string {
	h := sha256.Sum256([]byte(s))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// mobileconfig serves an Apple configuration profile (unsigned) for one
// address on this box's server: IMAP with TLS and SMTP submission, and
// contacts and calendars when the box serves them (davPayloads),
// password asked on install. Another server is refused (400).
func (s *Server) mobileconfig(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a, err := delivery.ParseAddress(strings.TrimSpace(q.Get("email")))
	if err != nil {
		http.Error(w, "Type your full email address (such as grandma@example.net) to get a profile.", http.StatusBadRequest)
		return
	}
	// The profile comes from this box, so it names only this box: a
	// link with server=another.example must not hand a family member a
	// profile that sends their password elsewhere.
	server := s.o.Hostname
	if v := strings.TrimSpace(q.Get("server")); v != "" {
		d, err := delivery.ParseDomain(v)
		if err != nil || !s.profileServer(d) {
			http.Error(w, "This box makes profiles only for its own server, "+server+".", http.StatusBadRequest)
			return
		}
		server = strings.ToLower(d)
	}
	svc := s.o.Services
	inPort, inSSL := svc.IMAPS, true
	if inPort == 0 {
		inPort, inSSL = svc.IMAP, false
	}
	outPort := svc.Submission
	if outPort == 0 {
		outPort = svc.Submissions
	}
	email := a.String()
	rev := strings.Join(reverse(strings.Split(server, ".")), ".")
	b := func(v bool) string {
		if v {
			return "<true/>"
		}
		return "<false/>"
	}
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	w.Header().Set("Content-Disposition", `attachment; filename="`+strings.NewReplacer(`"`, "", "@", "-at-").Replace(email)+`.mobileconfig"`)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>PayloadContent</key>
	<array>
		<dict>
			<key>EmailAccountDescription</key><string>%[1]s</string>
			<key>EmailAccountName</key><string>%[1]s</string>
			<key>EmailAccountType</key><string>EmailTypeIMAP</string>
			<key>EmailAddress</key><string>%[1]s</string>
			<key>IncomingMailServerAuthentication</key><string>EmailAuthPassword</string>
			<key>IncomingMailServerHostName</key><string>%[2]s</string>
			<key>IncomingMailServerPortNumber</key><integer>%[3]d</integer>
			<key>IncomingMailServerUseSSL</key>%[4]s
			<key>IncomingMailServerUsername</key><string>%[1]s</string>
			<key>OutgoingMailServerAuthentication</key><string>EmailAuthPassword</string>
			<key>OutgoingMailServerHostName</key><string>%[2]s</string>
			<key>OutgoingMailServerPortNumber</key><integer>%[5]d</integer>
			<key>OutgoingMailServerUseSSL</key><true/>
			<key>OutgoingMailServerUsername</key><string>%[1]s</string>
			<key>OutgoingPasswordSameAsIncomingPassword</key><true/>
			<key>PayloadDisplayName</key><string>Mail: %[1]s</string>
			<key>PayloadIdentifier</key><string>%[6]s.mail.%[7]s</string>
			<key>PayloadType</key><string>com.apple.mail.managed</string>
			<key>PayloadUUID</key><string>%[7]s</string>
			<key>PayloadVersion</key><integer>1</integer>
		</dict>%[9]s
	</array>
	<key>PayloadDisplayName</key><string>Email on %[2]s</string>
	<key>PayloadIdentifier</key><string>%[6]s.profile.%[8]s</string>
	<key>PayloadType</key><string>Configuration</string>
	<key>PayloadUUID</key><string>%[8]s</string>
	<key>PayloadVersion</key><integer>1</integer>
</dict>
</plist>
`, plistEscape(email), plistEscape(server), inPort, b(inSSL), outPort, plistEscape(rev), uuidFor("mail:"+email+"@"+server), uuidFor("profile:"+email+"@"+server),
		s.davPayloads(email, server, rev))
}

// davPayloads are the profile's contacts and calendar accounts (CardDAV
// and CalDAV at /dav/EMAIL/ on the HTTPS port) when the box serves them;
// the password is asked on install, as for mail.
func (s *Server) davPayloads(email, server, rev string) string {
	if s.o.DAV == nil {
		return ""
	}
	var b strings.Builder
	principal := "/dav/" + url.PathEscape(email) + "/"
	for _, p := range []struct{ kind, prefix, what string }{
		{"carddav", "CardDAV", "Contacts"}, {"caldav", "CalDAV", "Calendars"},
	} {
		fmt.Fprintf(&b, `
		<dict>
			<key>%[1]sAccountDescription</key><string>%[2]s: %[3]s</string>
			<key>%[1]sHostName</key><string>%[4]s</string>
			<key>%[1]sPort</key><integer>%[5]d</integer>
			<key>%[1]sPrincipalURL</key><string>%[6]s</string>
			<key>%[1]sUseSSL</key><true/>
			<key>%[1]sUsername</key><string>%[3]s</string>
			<key>PayloadDisplayName</key><string>%[2]s: %[3]s</string>
			<key>PayloadIdentifier</key><string>%[7]s.%[8]s.%[9]s</string>
			<key>PayloadType</key><string>com.apple.%[8]s.account</string>
			<key>PayloadUUID</key><string>%[9]s</string>
			<key>PayloadVersion</key><integer>1</integer>
		</dict>`, p.prefix, p.what, plistEscape(email), plistEscape(server), s.o.HTTPSPort, plistEscape(principal), plistEscape(rev), p.kind,
			uuidFor(p.kind+":"+email+"@"+server))
	}
	return b.String()
}

// profileServer reports whether a profile may name host as the server:
// the box's hostname or one of Options.ProfileServers.
func (s *Server) profileServer(host string) bool {
	if strings.EqualFold(host, s.o.Hostname) {
		return true
	}
	for _, h := range s.o.ProfileServers {
		if strings.EqualFold(host, h) {
			return true
		}
	}
	return false
}

func reverse(l []string) []string {
	for i, j := 0, len(l)-1; i < j; i, j = i+1, j-1 {
		l[i], l[j] = l[j], l[i]
	}
	return l
}

// hostedDomainOf picks the domain a client-configuration request is
// about: from the email address it names, else from a host name such as
// autoconfig.example.net. It must be hosted here.
func (s *Server) hostedDomainOf(r *http.Request, email, prefix string) (string, bool) {
	var d string
	if a, err := delivery.ParseAddress(email); err == nil {
		d = a.Domain
	} else {
		host := strings.ToLower(r.Host)
		if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
			host = host[:i]
		}
		d = strings.TrimPrefix(host, prefix)
	}
	ok, err := s.o.Store.IsLocalDomain(r.Context(), d)
	return d, err == nil && ok
}

type acServer struct {
	Type       string `xml:"type,attr"`
	Hostname   string `xml:"hostname"`
	Port       int    `xml:"port"`
	SocketType string `xml:"socketType"`
	Auth       string `xml:"authentication"`
	Username   string `xml:"username"`
}

type acConfig struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Version  string   `xml:"version,attr"`
	Provider struct {
		ID        string     `xml:"id,attr"`
		Domain    string     `xml:"domain"`
		Display   string     `xml:"displayName"`
		Short     string     `xml:"displayShortName"`
		Incoming  []acServer `xml:"incomingServer"`
		Outgoing  []acServer `xml:"outgoingServer"`
		Documents []struct {
			URL   string `xml:"url,attr"`
			Descr string `xml:"descr"`
		} `xml:"documentation"`
	} `xml:"emailProvider"`
}

// autoconfig answers Thunderbird's lookup (also on plain HTTP, which
// Thunderbird tries first for autoconfig.DOMAIN).
func (s *Server) autoconfig(w http.ResponseWriter, r *http.Request) {
	d, ok := s.hostedDomainOf(r, r.URL.Query().Get("emailaddress"), "autoconfig.")
	if !ok {
		http.Error(w, "no mail domain of this server", http.StatusNotFound)
		return
	}
	var c acConfig
	c.Version = "1.1"
	p := &c.Provider
	p.ID, p.Domain, p.Display, p.Short = d, d, d+" mail", d
	h := s.o.Hostname
	add := func(l *[]acServer, typ string, port int, sock string) {
		if port > 0 {
			*l = append(*l, acServer{typ, h, port, sock, "password-cleartext", "%EMAILADDRESS%"})
		}
	}
	svc := s.o.Services
	add(&p.Incoming, "imap", svc.IMAPS, "SSL")
	add(&p.Incoming, "imap", svc.IMAP, "STARTTLS")
	add(&p.Incoming, "pop3", svc.POP3S, "SSL")
	add(&p.Incoming, "pop3", svc.POP3, "STARTTLS")
	add(&p.Outgoing, "smtp", svc.Submissions, "SSL")
	add(&p.Outgoing, "smtp", svc.Submission, "STARTTLS")
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(c); err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	_, _ = w.Write(b.Bytes()) // a write error means the client left; nothing to tell it
}

// autodiscover answers Outlook's POX request (MS-OXDSCLI).
func (s *Server) autodiscover(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Request struct {
			Email  string `xml:"EMailAddress"`
			Schema string `xml:"AcceptableResponseSchema"`
		} `xml:"Request"`
	}
	if err := xml.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, "the request is not an autodiscover XML document", http.StatusBadRequest)
		return
	}
	a, err := delivery.ParseAddress(strings.TrimSpace(req.Request.Email))
	if err != nil {
		http.Error(w, "EMailAddress is not an email address", http.StatusBadRequest)
		return
	}
	if ok, err := s.o.Store.IsLocalDomain(r.Context(), a.Domain); err != nil {
		s.internalError(w, r, err)
		return
	} else if !ok {
		http.Error(w, "no mail domain of this server", http.StatusNotFound)
		return
	}
	svc, h, email := s.o.Services, plistEscape(s.o.Hostname), plistEscape(a.String())
	var b strings.Builder
	proto := func(typ string, port int, enc string) {
		if port == 0 {
			return
		}
		fmt.Fprintf(&b, "\n      <Protocol>\n        <Type>%s</Type>\n        <Server>%s</Server>\n        <Port>%d</Port>\n        <LoginName>%s</LoginName>\n        <SPA>off</SPA>\n        <Encryption>%s</Encryption>\n        <AuthRequired>on</AuthRequired>\n      </Protocol>", typ, h, port, email, enc)
	}
	if svc.IMAPS > 0 {
		proto("IMAP", svc.IMAPS, "SSL")
	} else {
		proto("IMAP", svc.IMAP, "TLS")
	}
	if svc.Submission > 0 {
		proto("SMTP", svc.Submission, "TLS")
	} else {
		proto("SMTP", svc.Submissions, "SSL")
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>%s
    </Account>
  </Response>
</Autodiscover>
`, b.String())
}

// mtaSTS serves the MTA-STS policy (RFC 8461 3.2) of the domain named by
// the mta-sts.DOMAIN host: enforce when the certificate is trusted,
// testing otherwise.
func (s *Server) mtaSTS(w http.ResponseWriter, r *http.Request) {
	d, ok := s.hostedDomainOf(r, "", "mta-sts.")
	if !ok {
		http.Error(w, "no mail domain of this server", http.StatusNotFound)
		return
	}
	_ = d
	mode, age := "testing", 86400
	if s.o.Certificate != nil {
		if _, trusted := s.o.Certificate(); trusted {
			mode, age = "enforce", 604800
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "version: STSv1\r\nmode: %s\r\nmx: %s\r\nmax_age: %d\r\n", mode, s.o.Hostname, age)
}
