// Package config reads boxmail.conf, the file of restart-only settings
// (hostname, listen address, ports, TLS files, limits, log level), into a
// validated struct with defaults. Domains, accounts and aliases are not
// configuration: they live in the store and change at run time.
//
// The format is one "key = value" per line; blank lines and lines starting
// with '#' are ignored. Unknown keys, duplicate keys and bad values are
// errors naming the line.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// FileName is the config file inside the data directory.
const FileName = "boxmail.conf"

// Config is the validated content of boxmail.conf.
type Config struct {
	Hostname string
	// Listen is the IP address every server binds to.
	Listen string
	// Ports; 0 disables that server.
	SMTPPort, SubmissionPort, SubmissionsPort, IMAPPort, IMAPSPort int
	POP3Port, POP3SPort                                            int
	// TLSCert and TLSKey are PEM files; relative paths are relative to the
	// data directory.
	TLSCert, TLSKey string
	// InsecureAuth allows IMAP LOGIN without TLS. Only quickstart on
	// loopback sets it; it is refused on any other listen address.
	InsecureAuth    bool
	MaxMessageBytes int64
	MaxRecipients   int
	// WebmailUndoSeconds is how long the webmail holds a sent message so
	// that "Undo" can take it back (0: sent at once).
	WebmailUndoSeconds int
	LogLevel           slog.Level
	// LogFormat is how log records are written to stderr: "text" (slog's
	// key=value lines) or "json" (one JSON object a line, for journald
	// and log shippers).
	LogFormat string
	// Resolvers are the recursive DNS servers ("host:port") for MX, SPF,
	// DKIM and DMARC lookups and status checks; empty means the system's
	// (/etc/resolv.conf).
	Resolvers []string
	// DNSPort is the authoritative DNS server's port (UDP and TCP); 0
	// disables it.
	DNSPort int
	// DNSSecondaries are the secondary name servers ("ip:port", port 53
	// unless given): they may transfer the zones (AXFR) and are sent a
	// NOTIFY when the zones change; everyone else is refused a transfer.
	DNSSecondaries []string
	// PublicIPv4 and PublicIPv6 are the box's public addresses, published
	// in its DNS records and checked by 'boxmail status'.
	PublicIPv4, PublicIPv6 []netip.Addr
	// DNSBL are the blocklist zones 'boxmail status' looks the box's
	// addresses up in.
	DNSBL []string
	// TrustedNetworks are client networks whose inbound SMTP mail skips
	// SPF/DMARC-based rejection (never a relaying right: that comes only
	// from AUTH). Default: 127.0.0.1/32 and ::1/128.
	TrustedNetworks []netip.Prefix
	// Outbound configures the outbound queue (queue.go).
	Outbound Outbound
	// Sieve configures filtering and ManageSieve (sieve.go).
	Sieve Sieve
	// Security configures the defences (security.go).
	Security Security
	// Spam configures the spam filter (spam.go).
	Spam Spam
	// HTTPPort and HTTPSPort are the web server's ports (web.go); 0 disables.
	HTTPPort, HTTPSPort int
	// MetricsListen is the "ip:port" of the Prometheus /metrics listener
	// (web.go); "" (the default) turns it off.
	MetricsListen string
	// Backup configures scheduled backups (backup.go).
	Backup Backup
	// ProfileServers are other names of this box that device profiles
	// may name besides Hostname (web.go).
	ProfileServers []string
	// ACME configures automatic certificates (acme.go).
	ACME ACME
	// Health configures the health checks and the status mail (health.go).
	Health Health
	// StoreURL is where the store keeps its state: "" for the embedded
	// SQLite database in the data directory, or a PostgreSQL database,
	// postgres://USER:PASS@HOST:PORT/DB (issue 23). It holds a password:
	// never log it (store.RedactURL).
	StoreURL string
	// BodyStore is where a store on PostgreSQL keeps the large message
	// bodies every node reads: "" or "db" (in the database), "file" (the
	// data dir, one node only) or an S3 bucket,
	// s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX][?tls=false]. It may
	// hold a secret: never log it.
	BodyStore string
}

// Default returns the production defaults for hostname.
func Default(hostname string) Config {
	return Config{
		Hostname:           hostname,
		Listen:             "0.0.0.0",
		Outbound:           DefaultOutbound(),
		Sieve:              DefaultSieve(),
		Security:           DefaultSecurity(),
		ACME:               DefaultACME(),
		Backup:             DefaultBackup(),
		Spam:               DefaultSpam(),
		Health:             DefaultHealth(),
		POP3Port:           110,
		POP3SPort:          995,
		SMTPPort:           25,
		SubmissionPort:     587,
		SubmissionsPort:    465,
		IMAPPort:           143,
		IMAPSPort:          993,
		DNSPort:            53,
		HTTPPort:           80,
		HTTPSPort:          443,
		DNSBL:              []string{"zen.spamhaus.org", "bl.spamcop.net"},
		TLSCert:            "tls/cert.pem",
		TLSKey:             "tls/key.pem",
		MaxMessageBytes:    50 << 20,
		MaxRecipients:      100,
		WebmailUndoSeconds: 10,
		LogLevel:           slog.LevelInfo,
		LogFormat:          "text",
		TrustedNetworks:    []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")},
	}
}

type field struct {
	get func(c *Config) string
	set func(c *Config, v string) error
	doc string
}

func portField(p func(c *Config) *int, doc string) field {
	return field{
		get: func(c *Config) string { return strconv.Itoa(*p(c)) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%q is not a port: want a number from 0 to 65535 (0 disables)", v)
			}
			if n < 0 || n > 65535 {
				return fmt.Errorf("%d is out of range: want a port from 0 to 65535 (0 disables)", n)
			}
			*p(c) = n
			return nil
		},
		doc: doc,
	}
}

func boolValue(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean: want true or false (or yes/no, on/off, 1/0)", v)
}

func listValue(l []string) string { return strings.Join(l, ", ") }

// addrListField is a comma-separated list of IPv4 (v4) or IPv6 addresses.
func addrListField(p func(c *Config) *[]netip.Addr, v4 bool, doc string) field {
	return field{
		get: func(c *Config) string {
			var l []string
			for _, a := range *p(c) {
				l = append(l, a.String())
			}
			return listValue(l)
		},
		set: func(c *Config, v string) error {
			var l []netip.Addr
			for _, s := range splitListValue(v) {
				a, err := netip.ParseAddr(s)
				if err != nil || a.Is4() != v4 || a.Zone() != "" {
					return fmt.Errorf("%q is not an IPv%s address", s, map[bool]string{true: "4", false: "6"}[v4])
				}
				l = append(l, a)
			}
			*p(c) = l
			return nil
		},
		doc: doc,
	}
}

func splitListValue(v string) []string {
	var out []string
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

var fields = map[string]field{
	"trusted_networks": prefixListField(func(c *Config) *[]netip.Prefix { return &c.TrustedNetworks },
		"client networks (CIDR, comma-separated) whose inbound mail skips SPF/DMARC rejection; not a relay right"),
	"dns_port":    portField(func(c *Config) *int { return &c.DNSPort }, "authoritative DNS server for the hosted domains (UDP and TCP), 0 disables"),
	"public_ipv4": addrListField(func(c *Config) *[]netip.Addr { return &c.PublicIPv4 }, true, "the box's public IPv4 address(es), comma-separated: published in DNS, checked by 'boxmail status'"),
	"public_ipv6": addrListField(func(c *Config) *[]netip.Addr { return &c.PublicIPv6 }, false, "the box's public IPv6 address(es), comma-separated"),
	"dnsbl": {
		get: func(c *Config) string { return listValue(c.DNSBL) },
		set: func(c *Config, v string) error {
			l := splitListValue(v)
			for i, z := range l {
				z = strings.ToLower(strings.TrimSuffix(z, "."))
				if !strings.Contains(z, ".") || strings.ContainsAny(z, " /:@") {
					return fmt.Errorf("%q is not a DNS zone such as zen.spamhaus.org", z)
				}
				l[i] = z
			}
			c.DNSBL = l
			return nil
		},
		doc: "DNS blocklist zones checked by 'boxmail status', comma-separated",
	},
	"resolvers": {
		get: func(c *Config) string { return listValue(c.Resolvers) },
		set: func(c *Config, v string) error {
			l := splitListValue(v)
			for i, r := range l {
				host, port, err := net.SplitHostPort(r)
				if err != nil {
					host, port = r, "53"
				}
				if net.ParseIP(host) == nil {
					return fmt.Errorf("%q is not an IP address: want ip[:port], such as 192.0.2.53 or [2001:db8::53]:53", r)
				}
				if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
					return fmt.Errorf("%q has a bad port: want a port from 1 to 65535", r)
				}
				l[i] = net.JoinHostPort(host, port)
			}
			c.Resolvers = l
			return nil
		},
		doc: "recursive DNS servers (ip[:port], comma-separated); empty: the system's",
	},
	"dns_secondaries": {
		get: func(c *Config) string { return listValue(c.DNSSecondaries) },
		set: func(c *Config, v string) error {
			l, err := ipPortList(v)
			if err != nil {
				return err
			}
			c.DNSSecondaries = l
			return nil
		},
		doc: "secondary name servers (ip[:port], comma-separated) allowed to transfer the zones (AXFR) and notified of changes; empty: transfers refused",
	},
	"hostname": {
		get: func(c *Config) string { return c.Hostname },
		set: func(c *Config, v string) error {
			h := strings.ToLower(strings.TrimSuffix(v, "."))
			if err := checkHostname(h); err != nil {
				return err
			}
			c.Hostname = h
			return nil
		},
		doc: "the box's own name (MX target, HELO, TLS certificate)",
	},
	"store_url": {
		get: func(c *Config) string { return c.StoreURL },
		set: func(c *Config, v string) error {
			if err := checkStoreURL(v); err != nil {
				return err
			}
			c.StoreURL = v
			return nil
		},
		doc: "where the store keeps its state: empty for the embedded SQLite database in the data dir, or postgres://USER:PASS@HOST:PORT/DB (large message bodies: see body_store)",
	},
	"body_store": {
		get: func(c *Config) string { return c.BodyStore },
		set: func(c *Config, v string) error {
			if err := checkBodyStore(v); err != nil {
				return err
			}
			c.BodyStore = v
			return nil
		},
		doc: "with store_url: where large message bodies live so every node reads them: db (default), file (this node's data dir) or s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX][?tls=false]",
	},
	"listen": {
		get: func(c *Config) string { return c.Listen },
		set: func(c *Config, v string) error {
			if net.ParseIP(v) == nil {
				return fmt.Errorf("%q is not an IP address: want an IP address such as 0.0.0.0 or 127.0.0.1", v)
			}
			c.Listen = v
			return nil
		},
		doc: "IP address all servers listen on",
	},
	"smtp_port":        portField(func(c *Config) *int { return &c.SMTPPort }, "inbound SMTP (MX), 0 disables"),
	"submission_port":  portField(func(c *Config) *int { return &c.SubmissionPort }, "submission with STARTTLS, 0 disables"),
	"submissions_port": portField(func(c *Config) *int { return &c.SubmissionsPort }, "submission with implicit TLS, 0 disables"),
	"imap_port":        portField(func(c *Config) *int { return &c.IMAPPort }, "IMAP with STARTTLS, 0 disables"),
	"imaps_port":       portField(func(c *Config) *int { return &c.IMAPSPort }, "IMAP with implicit TLS, 0 disables"),
	"tls_cert": {
		get: func(c *Config) string { return c.TLSCert },
		set: func(c *Config, v string) error {
			c.TLSCert = v
			return notEmpty(v, "a PEM certificate file such as tls/cert.pem")
		},
		doc: "PEM certificate chain (relative to the data dir)",
	},
	"tls_key": {
		get: func(c *Config) string { return c.TLSKey },
		set: func(c *Config, v string) error {
			c.TLSKey = v
			return notEmpty(v, "a PEM private key file such as tls/key.pem")
		},
		doc: "PEM private key (relative to the data dir)",
	},
	"insecure_auth": {
		get: func(c *Config) string { return strconv.FormatBool(c.InsecureAuth) },
		set: func(c *Config, v string) (err error) { c.InsecureAuth, err = boolValue(v); return },
		doc: "allow IMAP login without TLS (loopback only)",
	},
	"max_message_size": {
		get: func(c *Config) string { return strconv.FormatInt(c.MaxMessageBytes, 10) },
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1024 || n > 1<<30 {
				return fmt.Errorf("%q: want a number of bytes from 1024 to 1073741824", v)
			}
			c.MaxMessageBytes = n
			return nil
		},
		doc: "largest message accepted, in bytes",
	},
	"webmail_undo_seconds": {
		get: func(c *Config) string { return strconv.Itoa(c.WebmailUndoSeconds) },
		set: func(c *Config, v string) (err error) { c.WebmailUndoSeconds, err = numberIn(v, 0, 60); return },
		doc: "seconds the webmail holds a sent message for Undo (0: none)",
	},
	"max_recipients": {
		get: func(c *Config) string { return strconv.Itoa(c.MaxRecipients) },
		set: func(c *Config, v string) error {
			n, err := numberIn(v, 1, 10000)
			if err != nil {
				return err
			}
			c.MaxRecipients = n
			return nil
		},
		doc: "most recipients per message",
	},
	"log_level": {
		get: func(c *Config) string { return strings.ToLower(c.LogLevel.String()) },
		set: func(c *Config, v string) error {
			switch strings.ToLower(v) {
			case "debug", "info", "warn", "error":
				return c.LogLevel.UnmarshalText([]byte(v))
			}
			return fmt.Errorf("%q is not a log level: want debug, info, warn or error", v)
		},
		doc: "debug, info, warn or error",
	},
	"log_format": {
		get: func(c *Config) string { return c.LogFormat },
		set: func(c *Config, v string) error {
			switch f := strings.ToLower(v); f {
			case "text", "json":
				c.LogFormat = f
				return nil
			}
			return fmt.Errorf("%q is not a log format: want text or json", v)
		},
		doc: "text (key=value lines) or json (one object a line), written to stderr",
	},
}

// Parse reads a config from data. name is used in error messages.
func Parse(name string, data []byte) (Config, error) {
	c := Default("")
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 64*1024)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			return c, fmt.Errorf("%s:%d: %q has no '=': want \"key = value\"", name, line, t)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		f, ok := lookupField(k)
		if !ok {
			return c, fmt.Errorf("%s:%d: unknown setting %q: %s", name, line, k, suggest(k))
		}
		if prev, dup := seen[k]; dup {
			return c, fmt.Errorf("%s:%d: %s is already set on line %d: set each setting once", name, line, k, prev)
		}
		seen[k] = line
		if err := f.set(&c, v); err != nil {
			return c, fmt.Errorf("%s:%d: %s: %w", name, line, k, err)
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	if err := c.Validate(); err != nil {
		var se *settingError
		if errors.As(err, &se) && seen[se.key] > 0 {
			return c, fmt.Errorf("%s:%d: %w", name, seen[se.key], err)
		}
		return c, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// settingError is a Validate error about one setting, so that Parse can
// name the line that set it.
type settingError struct {
	key string
	msg string
}

func (e *settingError) Error() string { return e.msg }

// Validate checks the settings that depend on each other.
func (c Config) Validate() error {
	if c.Hostname == "" {
		return &settingError{"hostname", "hostname is not set: want the box's host name, such as mail.example.net"}
	}
	if c.InsecureAuth && !net.ParseIP(c.Listen).IsLoopback() {
		return &settingError{"insecure_auth", fmt.Sprintf("insecure_auth is allowed only with a loopback listen address such as 127.0.0.1, not %s", c.Listen)}
	}
	if d := c.Security.DataMemory; d > 0 && d < c.MaxMessageBytes {
		return &settingError{"smtp_data_memory", fmt.Sprintf("smtp_data_memory (%d) is below max_message_size (%d): a message of the largest size could never be received; want at least max_message_size", d, c.MaxMessageBytes)}
	}
	ports := map[int]string{}
	for _, p := range []struct {
		name string
		n    int
	}{{"smtp_port", c.SMTPPort}, {"submission_port", c.SubmissionPort}, {"submissions_port", c.SubmissionsPort}, {"imap_port", c.IMAPPort}, {"imaps_port", c.IMAPSPort}, {"dns_port", c.DNSPort}, {"http_port", c.HTTPPort}, {"https_port", c.HTTPSPort}, {"managesieve_port", c.Sieve.ManageSievePort}, {"pop3_port", c.POP3Port}, {"pop3s_port", c.POP3SPort}} {
		if p.n == 0 {
			continue
		}
		if other, dup := ports[p.n]; dup {
			return &settingError{p.name, fmt.Sprintf("%s and %s are both %d: want a different port for each server", other, p.name, p.n)}
		}
		ports[p.n] = p.name
	}
	return nil
}

// Load reads DIR/boxmail.conf.
func Load(dir string) (Config, error) {
	p := filepath.Join(dir, FileName)
	data, err := os.ReadFile(p)
	if err != nil {
		return Config{}, err
	}
	return Parse(p, data)
}

// Path resolves a file setting relative to the data directory.
func Path(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// Format renders c as a config file with a comment for each setting.
func (c Config) Format() []byte {
	var b bytes.Buffer
	b.WriteString("# boxmail configuration: restart-only settings.\n# Domains, users and aliases are managed with the boxmail command.\n\n")
	keys := make([]string, 0, len(fields))
	for k := range allFields() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, _ := lookupField(k)
		fmt.Fprintf(&b, "# %s\n%s = %s\n", f.doc, k, f.get(&c))
	}
	return b.Bytes()
}

// ipPortList parses a comma-separated list of ip[:port] (port 53 when
// not given) into "ip:port" strings.
func ipPortList(v string) ([]string, error) {
	l := splitListValue(v)
	for i, r := range l {
		host, port, err := net.SplitHostPort(r)
		if err != nil {
			host, port = r, "53"
		}
		if net.ParseIP(host) == nil {
			return nil, fmt.Errorf("%q is not an IP address: want ip[:port], such as 192.0.2.53 or [2001:db8::53]:53", r)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q has a bad port: want a port from 1 to 65535", r)
		}
		l[i] = net.JoinHostPort(host, port)
	}
	return l, nil
}

// checkBodyStore checks a body_store value. Its errors never quote the
// value, which may hold a secret.
func checkBodyStore(v string) error {
	const want = "want db, file or s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX][?tls=false]"
	switch {
	case v == "" || v == "db" || v == "file":
		return nil
	case !strings.HasPrefix(v, "s3://"):
		return errors.New(want)
	}
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("not a URL: " + want)
	}
	secret, _ := u.User.Password()
	if u.Host == "" || strings.Trim(u.Path, "/") == "" || u.User.Username() == "" || secret == "" {
		return errors.New("an S3 body store needs keys, a host and a bucket: " + want)
	}
	return nil
}

// checkStoreURL checks a store_url value: empty, or a PostgreSQL URL
// with a host and a database. Its errors never quote the value, which
// holds a password.
func checkStoreURL(v string) error {
	if v == "" {
		return nil
	}
	const want = "want postgres://USER:PASS@HOST:PORT/DB, or nothing for the embedded SQLite store"
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("not a URL: " + want)
	}
	switch {
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		return fmt.Errorf("scheme %q is not supported: %s", u.Scheme, want)
	case u.Host == "":
		return errors.New("no host: " + want)
	case strings.Trim(u.Path, "/") == "":
		return errors.New("no database name: " + want)
	}
	return nil
}
