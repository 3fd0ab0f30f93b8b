package config

import (
	"fmt"
	"net"
	"strconv"
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
	"metrics_listen": {
		get: func(c *Config) string { return c.MetricsListen },
		set: func(c *Config, v string) (err error) { c.MetricsListen, err = MetricsAddr(v); return },
		doc: "Prometheus metrics at /metrics on this ip:port (a port alone means 127.0.0.1:port; keep it off the internet); empty: off",
	},
}

// MetricsAddr checks a metrics_listen value and returns it as
// "ip:port": a port alone is on loopback; "" stays "" (off).
func MetricsAddr(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		host, port = "127.0.0.1", v
	}
	if net.ParseIP(host) == nil {
		return "", fmt.Errorf("%q: want ip:port such as 127.0.0.1:9154, or a port alone (on loopback)", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: want a port from 1 to 65535", v)
	}
	return net.JoinHostPort(host, port), nil
}
