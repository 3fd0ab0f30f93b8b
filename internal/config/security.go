package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Security holds the settings of the defences (internal/guard): the login
// limiter, connection limits, greylisting and DNS blocklists.
type Security struct {
	// AuthAllow are client networks never blocked nor connection-limited.
	AuthAllow []netip.Prefix
	// AuthMaxFailures failed logins from one client network (an IPv4
	// address, an IPv6 /64) within AuthWindow block it from all logins
	// for AuthBlockTimes (first, second, ...; the last repeats).
	AuthMaxFailures int
	AuthWindow      time.Duration
	AuthBlockTimes  []time.Duration
	// AuthAccountFailures failed logins to one account within AuthWindow
	// slow logins to it from networks it was never used from.
	AuthAccountFailures int
	// AuthFailureDelay is waited before a failed login is answered
	// (negative: none).
	AuthFailureDelay time.Duration
	// MaxConnsPerIP per protocol, MaxConns in all.
	MaxConnsPerIP, MaxConns int
	// Greylisting of inbound SMTP (never for trusted_networks).
	Greylisting                   bool
	GreylistDelay, GreylistExpiry time.Duration
	// SMTPDNSBL are the blocklist zones inbound SMTP clients are looked up in.
	SMTPDNSBL []string
	// GreetWait is how long an inbound SMTP client must stay silent before
	// the greeting (negative: no check).
	GreetWait time.Duration
	// DataMemory is the message data all SMTP connections hold in memory
	// at once, in bytes (0: max_message_size).
	DataMemory int64
	// MemoryLimit is the box's soft memory limit in bytes, given to the
	// Go runtime (0: none; the GOMEMLIMIT environment variable wins).
	MemoryLimit int64
}

// DataMemoryOr returns DataMemory, or its default for maxMessage.
func (s Security) DataMemoryOr(maxMessage int64) int64 {
	if s.DataMemory > 0 {
		return s.DataMemory
	}
	return maxMessage
}

// DefaultSecurity returns the production defaults.
func DefaultSecurity() Security {
	return Security{
		AuthMaxFailures:     10,
		AuthWindow:          15 * time.Minute,
		AuthBlockTimes:      []time.Duration{15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour},
		AuthAccountFailures: 20,
		AuthFailureDelay:    2 * time.Second,
		MaxConnsPerIP:       50,
		MaxConns:            1000,
		Greylisting:         true,
		GreylistDelay:       5 * time.Minute,
		GreylistExpiry:      35 * 24 * time.Hour,
		SMTPDNSBL:           []string{"zen.spamhaus.org"},
		GreetWait:           time.Second,
		MemoryLimit:         256 << 20,
	}
}

func prefixListField(p func(c *Config) *[]netip.Prefix, doc string) field {
	return field{
		get: func(c *Config) string {
			var l []string
			for _, x := range *p(c) {
				l = append(l, x.String())
			}
			return listValue(l)
		},
		set: func(c *Config, v string) error {
			var l []netip.Prefix
			for _, x := range splitListValue(v) {
				pf, err := netip.ParsePrefix(x)
				if err != nil {
					a, aerr := netip.ParseAddr(x)
					if aerr != nil {
						return fmt.Errorf("%q is not an IP network: want a network such as 192.0.2.0/24 or an address, comma-separated", x)
					}
					pf = netip.PrefixFrom(a, a.BitLen())
				}
				l = append(l, pf.Masked())
			}
			*p(c) = l
			return nil
		},
		doc: doc,
	}
}

var securityFields = map[string]field{
	"pop3_port":  portField(func(c *Config) *int { return &c.POP3Port }, "POP3 with STLS, 0 disables"),
	"pop3s_port": portField(func(c *Config) *int { return &c.POP3SPort }, "POP3 with implicit TLS, 0 disables"),
	"auth_allow": prefixListField(func(c *Config) *[]netip.Prefix { return &c.Security.AuthAllow },
		"client networks (CIDR, comma-separated) never blocked for failed logins nor connection-limited; empty by default"),
	"auth_max_failures": intField(func(c *Config) *int { return &c.Security.AuthMaxFailures }, 1, 10000,
		"failed logins (SMTP AUTH, IMAP, POP3, ManageSieve, web) from one address or IPv6 /64 within auth_window that block it"),
	"auth_window": durationField(func(c *Config) *time.Duration { return &c.Security.AuthWindow }, false, "the window failed logins are counted in"),
	"auth_block_times": durationListField(func(c *Config) *[]time.Duration { return &c.Security.AuthBlockTimes }, "15m",
		"how long a first, second, ... block lasts (a repeat within a day of the last; the last repeats)"),
	"auth_account_failures": intField(func(c *Config) *int { return &c.Security.AuthAccountFailures }, 1, 100000,
		"failed logins to one account within auth_window (from anywhere) that slow logins to it from networks it was never used from to one a minute"),
	"auth_failure_delay": durationField(func(c *Config) *time.Duration { return &c.Security.AuthFailureDelay }, true,
		"wait before answering a failed or refused login (off: none)"),
	"max_connections_per_ip": intField(func(c *Config) *int { return &c.Security.MaxConnsPerIP }, 1, 100000,
		"most connections at once from one address or IPv6 /64 to one protocol (SMTP, submission, IMAP, POP3, ManageSieve, web)"),
	"max_connections": intField(func(c *Config) *int { return &c.Security.MaxConns }, 1, 1000000,
		"most client connections at once in all"),
	"smtp_data_memory": bytesField(func(c *Config) *int64 { return &c.Security.DataMemory }, "auto",
		"message data all SMTP connections may hold in memory at once, in bytes, or auto (the default: max_message_size, one message of the largest size; small messages have half as much again of their own); a message beyond it is refused for now (452 4.3.1) and sent again later by its sender"),
	"memory_limit": bytesField(func(c *Config) *int64 { return &c.Security.MemoryLimit }, "off",
		"soft memory limit of the whole box in bytes, or off (default 268435456): near it the garbage collector works harder; the GOMEMLIMIT environment variable wins"),
	"greylisting": {
		get: func(c *Config) string {
			if c.Security.Greylisting {
				return "true"
			}
			return "false"
		},
		set: func(c *Config, v string) (err error) {
			c.Security.Greylisting, err = boolValue(v)
			return err
		},
		doc: "greylist inbound mail from outside trusted_networks (451 4.7.1 for an unknown client/sender/recipient, accepted when retried)",
	},
	"greylist_delay": durationField(func(c *Config) *time.Duration { return &c.Security.GreylistDelay }, false,
		"how long a greylisted sender must wait before its retry is accepted"),
	"greylist_expiry": durationField(func(c *Config) *time.Duration { return &c.Security.GreylistExpiry }, false,
		"how long a sender that passed greylisting is remembered after its last mail"),
	"smtp_dnsbl": {
		get: func(c *Config) string { return listValue(c.Security.SMTPDNSBL) },
		set: func(c *Config, v string) error {
			l := splitListValue(v)
			for i, z := range l {
				z = strings.ToLower(strings.TrimSuffix(z, "."))
				if !strings.Contains(z, ".") || strings.ContainsAny(z, " /:@") {
					return fmt.Errorf("%q is not a DNS zone such as zen.spamhaus.org", z)
				}
				l[i] = z
			}
			c.Security.SMTPDNSBL = l
			return nil
		},
		doc: "DNS blocklist zones inbound SMTP clients are looked up in (listed: 554 5.7.1; a failed lookup never rejects), comma-separated",
	},
	"smtp_greet_wait": durationField(func(c *Config) *time.Duration { return &c.Security.GreetWait }, true,
		"how long an inbound SMTP client outside trusted_networks must wait for the greeting; one that talks first is refused (off: no check)"),
}

// bytesField is a size in bytes from 1 MiB to 64 GiB, or the word zero
// (stored as 0).
func bytesField(p func(c *Config) *int64, zero string, doc string) field {
	return field{
		get: func(c *Config) string {
			if *p(c) == 0 {
				return zero
			}
			return strconv.FormatInt(*p(c), 10)
		},
		set: func(c *Config, v string) error {
			if v == zero {
				*p(c) = 0
				return nil
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1<<20 || n > 64<<30 {
				return fmt.Errorf("%q: want a number of bytes from 1048576 (1 MiB) to 68719476736 (64 GiB), or %s", v, zero)
			}
			*p(c) = n
			return nil
		},
		doc: doc,
	}
}
