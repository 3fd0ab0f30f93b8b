package config

// webFields are the settings of the web server (admin panel, account
// pages, /setup, autoconfig, MTA-STS).
var webFields = map[string]field{
	"http_port": portField(func(c *Config) *int { return &c.HTTPPort },
		"plain HTTP: redirects to HTTPS, except autoconfig and the MTA-STS policy, which must answer on it; 0 disables"),
	"https_port": portField(func(c *Config) *int { return &c.HTTPSPort },
		"HTTPS: admin panel (/admin), account pages (/account), device set-up (/setup), autoconfig/autodiscover; 0 disables"),
}
