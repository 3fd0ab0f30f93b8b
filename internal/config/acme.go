package config

import (
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LetsEncrypt is the default ACME directory: Let's Encrypt production.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// ACME configures automatic certificates (issue 15): off unless set.
type ACME struct {
	On bool
	// CA is the ACME directory URL (default LetsEncrypt).
	CA string
	// CARoot is a PEM file of the certificates to trust when talking to
	// the CA over HTTPS (test CAs such as Pebble); empty: the system's.
	// Relative to the data directory.
	CARoot string
	// Email is the account's contact address (optional).
	Email string
	// RenewCheck is how often the certificates are checked for renewal.
	RenewCheck time.Duration
	// Challenges are the challenge types to answer ("dns-01",
	// "http-01", "tls-alpn-01"); nil: chosen from the ports the box
	// serves (DNS, HTTP on 80, HTTPS on 443).
	Challenges []string
}

// ACMEChallengeTypes are the challenge types acme_challenges may name.
var ACMEChallengeTypes = []string{"dns-01", "http-01", "tls-alpn-01"}

// DefaultACME is ACME off, pointed at Let's Encrypt.
func DefaultACME() ACME { return ACME{CA: LetsEncrypt, RenewCheck: 10 * time.Minute} }

var acmeFields = map[string]field{
	"acme_challenges": {
		get: func(c *Config) string {
			if len(c.ACME.Challenges) == 0 {
				return "auto"
			}
			return listValue(c.ACME.Challenges)
		},
		set: func(c *Config, v string) error {
			c.ACME.Challenges = nil
			if v == "auto" {
				return nil
			}
			for _, x := range splitListValue(v) {
				x = strings.ToLower(x)
				if !slices.Contains(ACMEChallengeTypes, x) {
					return fmt.Errorf("%q is not a challenge type: want auto, or some of dns-01, http-01, tls-alpn-01 (comma-separated)", x)
				}
				if !slices.Contains(c.ACME.Challenges, x) {
					c.ACME.Challenges = append(c.ACME.Challenges, x)
				}
			}
			if len(c.ACME.Challenges) == 0 {
				return fmt.Errorf("%q names no challenge type: want auto, or some of dns-01, http-01, tls-alpn-01", v)
			}
			return nil
		},
		doc: "the ACME challenges to answer: auto (dns-01 through the box's DNS, http-01 when http_port is 80, tls-alpn-01 when https_port is 443), or a list such as http-01 when the router forwards port 80 to http_port",
	},
	"acme": {
		get: func(c *Config) string { return map[bool]string{true: "on", false: "off"}[c.ACME.On] },
		set: func(c *Config, v string) (err error) {
			if c.ACME.On, err = boolValue(v); err != nil {
				return fmt.Errorf("%q is not on or off: want on (get certificates from acme_ca) or off", v)
			}
			return nil
		},
		doc: "on: get and renew the certificates of the hostname and of autoconfig., autodiscover., mta-sts. of each domain from acme_ca (a certificate installed with 'boxmail tls install' wins); off: serve tls_cert",
	},
	"acme_ca": {
		get: func(c *Config) string { return c.ACME.CA },
		set: func(c *Config, v string) error {
			u, err := url.Parse(v)
			if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
				return fmt.Errorf("%q is not an https:// ACME directory URL such as %s", v, LetsEncrypt)
			}
			c.ACME.CA = v
			return nil
		},
		doc: "the ACME directory URL (Let's Encrypt staging: https://acme-staging-v02.api.letsencrypt.org/directory)",
	},
	"acme_ca_root": stringField(func(c *Config) *string { return &c.ACME.CARoot }, nil,
		"PEM file of the certificates to trust when talking to acme_ca (a test CA such as Pebble); empty: the system's"),
	"acme_email": stringField(func(c *Config) *string { return &c.ACME.Email }, checkEmail,
		"contact address of the ACME account (expiry notices from the CA); empty: none"),
	"acme_renew_check": {
		get: func(c *Config) string { return c.ACME.RenewCheck.String() },
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second || d > 24*time.Hour {
				return fmt.Errorf("%q: want a duration from 1s to 24h such as 10m", v)
			}
			c.ACME.RenewCheck = d
			return nil
		},
		doc: "how often the certificates are checked for renewal (each is renewed at 2/3 of its lifetime)",
	},
}

// checkEmail accepts a bare address such as admin@example.net.
func checkEmail(v string) error {
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || a.Name != "" || !strings.Contains(v[strings.LastIndexByte(v, '@')+1:], ".") {
		return fmt.Errorf("%s is not an email address: want an address such as admin@example.net", strconv.Quote(v))
	}
	return nil
}
