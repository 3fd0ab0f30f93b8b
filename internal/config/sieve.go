package config

import "time"

// Sieve holds the settings of filtering at delivery and of ManageSieve.
type Sieve struct {
	// ManageSievePort is the ManageSieve server's port (RFC 5804: 4190);
	// 0 disables it.
	ManageSievePort int
	// MaxRedirects per message per script run.
	MaxRedirects int
	// CreateFolders lets fileinto create a missing mailbox.
	CreateFolders bool
	// VacationMaxDays caps a vacation reply's :days; VacationDays is the
	// default of 'boxmail vacation'.
	VacationMaxDays, VacationDays int
	// SRSMaxAge is how long a bounce to a forwarded copy is accepted.
	SRSMaxAge time.Duration
	// BodyLimit is how many bytes of a message's text a Sieve body test
	// compares; RunTimeout bounds one script run (past it, or past the
	// sieve package's work budget, the message is kept in INBOX).
	BodyLimit  int
	RunTimeout time.Duration
}

// DefaultSieve returns the defaults.
func DefaultSieve() Sieve {
	return Sieve{ManageSievePort: 4190, MaxRedirects: 10, CreateFolders: true, VacationMaxDays: 30, VacationDays: 7, SRSMaxAge: 21 * 24 * time.Hour,
		BodyLimit: 1 << 20, RunTimeout: 2 * time.Second}
}

var sieveFields = map[string]field{
	"managesieve_port": portField(func(c *Config) *int { return &c.Sieve.ManageSievePort }, "ManageSieve (Sieve filter upload from mail clients), 0 disables"),
	"sieve_max_redirects": intField(func(c *Config) *int { return &c.Sieve.MaxRedirects }, 1, 100,
		"most redirects of one message by one Sieve script run"),
	"sieve_create_folders": {
		get: func(c *Config) string {
			if c.Sieve.CreateFolders {
				return "true"
			}
			return "false"
		},
		set: func(c *Config, v string) (err error) {
			c.Sieve.CreateFolders, err = boolValue(v)
			return err
		},
		doc: "Sieve fileinto creates a missing folder (false: the message goes to INBOX)",
	},
	"vacation_max_days": intField(func(c *Config) *int { return &c.Sieve.VacationMaxDays }, 1, 365, "longest period a vacation reply waits before answering the same sender again"),
	"vacation_days":     intField(func(c *Config) *int { return &c.Sieve.VacationDays }, 1, 365, "default period of 'boxmail vacation' (one reply per sender per period)"),
	"srs_max_age":       durationField(func(c *Config) *time.Duration { return &c.Sieve.SRSMaxAge }, false, "how long a bounce to a forwarded copy's SRS address is accepted"),
	"sieve_body_limit": intField(func(c *Config) *int { return &c.Sieve.BodyLimit }, 1024, 64<<20,
		"bytes of a message's decoded text a Sieve body test looks at (the rest is not compared)"),
	"sieve_run_timeout": durationField(func(c *Config) *time.Duration { return &c.Sieve.RunTimeout }, false,
		"longest one Sieve script run may take; past it the message is kept in INBOX and the run logged"),
}
