package config

import (
	"fmt"
	"strings"
)

// webFields are the settings of the web server (admin panel, account
// pages, /setup, autoconfig, MTA-STS).
var webFields = map[string]field{
	"http_port": portField(func(c *Config) *int { return &c.HTTPPort },
		"plain HTTP: redirects to HTTPS (the MTA-STS policy too: RFC 8461 fetches it over HTTPS only), except autoconfig; 0 disables"),
	"https_port": portField(func(c *Config) *int { return &c.HTTPSPort },
		"HTTPS: admin panel (/admin), account pages (/account), device set-up (/setup), autoconfig/autodiscover; 0 disables"),
	"profile_servers": {
		get: func(c *Config) string { return listValue(c.ProfileServers) },
		set: func(c *Config, v string) error {
			l := splitListValue(v)
			for i, h := range l {
				h = strings.ToLower(strings.TrimSuffix(h, "."))
				if !strings.Contains(h, ".") || strings.ContainsFunc(h, func(r rune) bool {
					return !(r == '.' || r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
				}) {
					return fmt.Errorf("%q is not a host name such as imap.example.net", h)
				}
				l[i] = h
			}
			c.ProfileServers = l
			return nil
		},
		doc: "other names of this box that iPhone/Mac profiles (/setup/mobileconfig) may name as the server besides hostname, comma-separated; empty: hostname only",
	},
}
