package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Outbound holds the settings of the outbound queue.
type Outbound struct {
	// Transports maps a recipient domain ("*": every domain) to the
	// "host:port" that takes its mail instead of its MX hosts.
	Transports map[string]string
	// Smarthost relays all outbound mail ("host:port"), with
	// SmarthostTLS "starttls", "implicit" or "none" and optional AUTH.
	Smarthost, SmarthostTLS, SmarthostUser, SmarthostPasswordFile string
	// Retry is the wait after each failed attempt; the last repeats.
	Retry []time.Duration
	// Lifetime until a message bounces; DelayWarning until the sender is
	// told it is late (negative: never).
	Lifetime, DelayWarning time.Duration
	// MaxConnections overall and per destination domain.
	MaxConnections, MaxPerDomain int
	// BindIPv4 and BindIPv6 are the source addresses of outbound
	// connections (smtp_bind_address, smtp_bind_address6, as in Postfix);
	// zero: see Config.OutboundBind.
	BindIPv4, BindIPv6 netip.Addr
	// TrustedADResolvers are resolvers (besides any on loopback) whose
	// AD bit, "DNSSEC validated", the box believes: DANE for outbound
	// mail rests on it (resolver.Net.TrustedAD).
	TrustedADResolvers []netip.Addr
}

// OutboundBind returns the source addresses for outbound connections to
// IPv4 and IPv6 targets: the smtp_bind_address settings, else the listen
// address when it is one specific address of that family; a zero Addr
// leaves the choice to the system. The queue does not use a loopback
// source for a target off loopback.
func (c Config) OutboundBind() (v4, v6 netip.Addr) {
	v4, v6 = c.Outbound.BindIPv4, c.Outbound.BindIPv6
	if l, err := netip.ParseAddr(c.Listen); err == nil && !l.IsUnspecified() {
		l = l.Unmap()
		if l.Is4() && !v4.IsValid() {
			v4 = l
		}
		if l.Is6() && !v6.IsValid() {
			v6 = l
		}
	}
	return v4, v6
}

// bindField is an IP address of one family (is6) or empty.
func bindField(get func(c *Config) *netip.Addr, is6 bool, doc string) field {
	want := "want an IPv4 address such as 192.0.2.25 (IPv6 goes in smtp_bind_address6), or empty"
	if is6 {
		want = "want an IPv6 address such as 2001:db8::25, or empty"
	}
	return field{
		get: func(c *Config) string {
			if a := *get(c); a.IsValid() {
				return a.String()
			}
			return ""
		},
		set: func(c *Config, v string) error {
			if v == "" {
				*get(c) = netip.Addr{}
				return nil
			}
			a, err := netip.ParseAddr(v)
			if err != nil || a.Zone() != "" || a.Unmap().Is4() == is6 || a.IsUnspecified() {
				return fmt.Errorf("%q is not a source address: %s", v, want)
			}
			*get(c) = a.Unmap()
			return nil
		},
		doc: doc,
	}
}

// DefaultOutbound returns the defaults: retries at 1m, 5m, 15m, 30m, 1h,
// then every 2h, for 5 days, with a warning after 4h.
func DefaultOutbound() Outbound {
	return Outbound{
		SmarthostTLS:   "starttls",
		Retry:          []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour},
		Lifetime:       5 * 24 * time.Hour,
		DelayWarning:   4 * time.Hour,
		MaxConnections: 20,
		MaxPerDomain:   2,
	}
}

// SmarthostPassword reads the smarthost password file (relative to dir).
func (o Outbound) SmarthostPassword(dir string) (string, error) {
	if o.SmarthostPasswordFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(Path(dir, o.SmarthostPasswordFile))
	if err != nil {
		return "", fmt.Errorf("smarthost_password_file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(line, "\r"), nil
}

func checkHostPort(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" {
		return fmt.Errorf("%q is not host:port: want a host and port such as mx.example.net:25", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q has a bad port: want a port from 1 to 65535", v)
	}
	return nil
}

func durationField(get func(c *Config) *time.Duration, allowOff bool, doc string) field {
	return field{
		get: func(c *Config) string {
			d := *get(c)
			if d < 0 {
				return "off"
			}
			return d.String()
		},
		set: func(c *Config, v string) error {
			if allowOff && v == "off" {
				*get(c) = -1
				return nil
			}
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				if allowOff {
					return fmt.Errorf("%q is not a duration: want a duration such as 4h or 90m, or off", v)
				}
				return fmt.Errorf("%q is not a duration: want a duration such as 4h or 90m", v)
			}
			*get(c) = d
			return nil
		},
		doc: doc,
	}
}

// durationListField is a comma-separated list of at least one positive
// duration; example shows one in the error message.
func durationListField(get func(c *Config) *[]time.Duration, example, doc string) field {
	return field{
		get: func(c *Config) string {
			var l []string
			for _, d := range *get(c) {
				l = append(l, d.String())
			}
			return listValue(l)
		},
		set: func(c *Config, v string) error {
			var l []time.Duration
			for _, x := range splitListValue(v) {
				d, err := time.ParseDuration(x)
				if err != nil || d <= 0 {
					return fmt.Errorf("%q is not a duration: want durations such as %s, comma-separated", x, example)
				}
				l = append(l, d)
			}
			if len(l) == 0 {
				return fmt.Errorf("want at least one duration")
			}
			*get(c) = l
			return nil
		},
		doc: doc,
	}
}

func intField(get func(c *Config) *int, lo, hi int, doc string) field {
	return field{
		get: func(c *Config) string { return strconv.Itoa(*get(c)) },
		set: func(c *Config, v string) error {
			n, err := numberIn(v, lo, hi)
			if err != nil {
				return err
			}
			*get(c) = n
			return nil
		},
		doc: doc,
	}
}

func stringField(get func(c *Config) *string, check func(string) error, doc string) field {
	return field{
		get: func(c *Config) string { return *get(c) },
		set: func(c *Config, v string) error {
			if v != "" && check != nil {
				if err := check(v); err != nil {
					return err
				}
			}
			*get(c) = v
			return nil
		},
		doc: doc,
	}
}

var queueFields = map[string]field{
	"dnssec_trusted_resolvers": {
		get: func(c *Config) string {
			var l []string
			for _, a := range c.Outbound.TrustedADResolvers {
				l = append(l, a.String())
			}
			return listValue(l)
		},
		set: func(c *Config, v string) error {
			var l []netip.Addr
			for _, s := range splitListValue(v) {
				a, err := netip.ParseAddr(s)
				if err != nil || a.Zone() != "" {
					return fmt.Errorf("%q is not an IP address: want the addresses of validating resolvers reached over a trusted path, comma-separated", s)
				}
				l = append(l, a.Unmap())
			}
			c.Outbound.TrustedADResolvers = l
			return nil
		},
		doc: "resolvers (IP addresses, comma-separated) whose DNSSEC answers (AD bit) are believed for DANE besides those on loopback; empty: loopback only",
	},
	"smtp_bind_address": bindField(func(c *Config) *netip.Addr { return &c.Outbound.BindIPv4 }, false,
		"IPv4 source address of outbound SMTP connections; empty: the listen address if it is one IPv4 address, else the system's choice"),
	"smtp_bind_address6": bindField(func(c *Config) *netip.Addr { return &c.Outbound.BindIPv6 }, true,
		"IPv6 source address of outbound SMTP connections; empty: the listen address if it is one IPv6 address, else the system's choice"),
	"transports": {
		get: func(c *Config) string {
			var l []string
			for d, t := range c.Outbound.Transports {
				l = append(l, d+"="+t)
			}
			sort.Strings(l)
			return listValue(l)
		},
		set: func(c *Config, v string) error {
			m := map[string]string{}
			for _, x := range splitListValue(v) {
				d, t, ok := strings.Cut(x, "=")
				d, t = strings.ToLower(strings.TrimSpace(d)), strings.TrimSpace(t)
				if !ok || d == "" {
					return fmt.Errorf("%q is not a transport: want domain=host:port, such as example.org=mx.example.org:25", x)
				}
				if err := checkHostPort(t); err != nil {
					return err
				}
				m[d] = t
			}
			c.Outbound.Transports = m
			return nil
		},
		doc: "per-domain next hops instead of MX (domain=host:port, comma-separated; * for all)",
	},
	"smarthost": stringField(func(c *Config) *string { return &c.Outbound.Smarthost }, checkHostPort,
		"relay all outbound mail through host:port (e.g. your provider's, when port 25 is blocked); empty: deliver directly"),
	"smarthost_tls": stringField(func(c *Config) *string { return &c.Outbound.SmarthostTLS }, func(v string) error {
		if v != "starttls" && v != "implicit" && v != "none" {
			return fmt.Errorf("want starttls, implicit or none")
		}
		return nil
	}, "TLS to the smarthost: starttls, implicit or none"),
	"smarthost_user":          stringField(func(c *Config) *string { return &c.Outbound.SmarthostUser }, nil, "AUTH user name at the smarthost"),
	"smarthost_password_file": stringField(func(c *Config) *string { return &c.Outbound.SmarthostPasswordFile }, nil, "file holding the smarthost password"),
	"retry_schedule": durationListField(func(c *Config) *[]time.Duration { return &c.Outbound.Retry }, "5m",
		"waits between delivery attempts (the last repeats)"),
	"queue_lifetime": durationField(func(c *Config) *time.Duration { return &c.Outbound.Lifetime }, false, "how long a message is retried before it bounces"),
	"delay_warning":  durationField(func(c *Config) *time.Duration { return &c.Outbound.DelayWarning }, true, "when the sender is told a message is late (off: never)"),
	"outbound_connections": intField(func(c *Config) *int { return &c.Outbound.MaxConnections }, 1, 1000,
		"most outbound SMTP connections at once"),
	"outbound_connections_per_domain": intField(func(c *Config) *int { return &c.Outbound.MaxPerDomain }, 1, 100,
		"most outbound SMTP connections to one domain at once"),
}

// lookupField finds a setting in any group.
func lookupField(k string) (field, bool) {
	if f, ok := fields[k]; ok {
		return f, true
	}
	if f, ok := webFields[k]; ok {
		return f, true
	}
	if f, ok := sieveFields[k]; ok {
		return f, true
	}
	if f, ok := securityFields[k]; ok {
		return f, true
	}
	if f, ok := acmeFields[k]; ok {
		return f, true
	}
	if f, ok := backupFields[k]; ok {
		return f, true
	}
	if f, ok := spamFields[k]; ok {
		return f, true
	}
	if f, ok := healthFields[k]; ok {
		return f, true
	}
	f, ok := queueFields[k]
	return f, ok
}

// allFields returns every setting by name.
func allFields() map[string]field {
	m := make(map[string]field, len(fields)+len(queueFields))
	for k, f := range fields {
		m[k] = f
	}
	for k, f := range queueFields {
		m[k] = f
	}
	for k, f := range webFields {
		m[k] = f
	}
	for k, f := range securityFields {
		m[k] = f
	}
	for k, f := range sieveFields {
		m[k] = f
	}
	for k, f := range acmeFields {
		m[k] = f
	}
	for k, f := range backupFields {
		m[k] = f
	}
	for k, f := range spamFields {
		m[k] = f
	}
	for k, f := range healthFields {
		m[k] = f
	}
	return m
}
