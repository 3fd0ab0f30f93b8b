package config

import (
	"fmt"
	"net/url"
	"strconv"
)

// Spam holds the settings of the spam filter (internal/spam): on by
// default, nothing to set up.
type Spam struct {
	// Filter turns the filter on (scoring at delivery, training from
	// moves into and out of Junk).
	Filter bool
	// JunkScore: a score at or above it goes to Junk.
	JunkScore float64
	// RejectScore: a score at or above it is refused at SMTP time with
	// 550 5.7.1; 0 (off, the default) never.
	RejectScore float64
	// MinTraining: an account with fewer trained spam or ham messages is
	// judged by the household model.
	MinTraining int
	// MemoryMiB caps the models held in memory over all accounts.
	MemoryMiB int
	// RspamdURL is an rspamd controller or normal worker whose verdict
	// joins ours and to which training is forwarded; "" (the default):
	// none.
	RspamdURL string
}

// DefaultSpam returns the defaults.
func DefaultSpam() Spam {
	return Spam{Filter: true, JunkScore: 5, MinTraining: 20, MemoryMiB: 64}
}

// scoreField is a score setting: a number from lo to 1000, or (allowOff)
// "off", kept as 0.
func scoreField(get func(c *Config) *float64, allowOff bool, lo float64, doc string) field {
	return field{
		get: func(c *Config) string {
			if allowOff && *get(c) == 0 {
				return "off"
			}
			return strconv.FormatFloat(*get(c), 'f', -1, 64)
		},
		set: func(c *Config, v string) error {
			if allowOff && v == "off" {
				*get(c) = 0
				return nil
			}
			n, err := strconv.ParseFloat(v, 64)
			if err != nil || n < lo || n > 1000 {
				if allowOff {
					return fmt.Errorf("%q is not a score: want a number from %g to 1000, or off", v, lo)
				}
				return fmt.Errorf("%q is not a score: want a number from %g to 1000", v, lo)
			}
			*get(c) = n
			return nil
		},
		doc: doc,
	}
}

var spamFields = map[string]field{
	"spam_filter": {
		get: func(c *Config) string { return strconv.FormatBool(c.Spam.Filter) },
		set: func(c *Config, v string) (err error) {
			c.Spam.Filter, err = boolValue(v)
			return err
		},
		doc: "score incoming mail (X-Spam-Status, junk to the Junk folder); false: no scoring, though moves into and out of Junk still train",
	},
	"spam_junk_score": scoreField(func(c *Config) *float64 { return &c.Spam.JunkScore }, false, 0.1,
		"score from which a message goes to the recipient's Junk folder"),
	"spam_reject_score": scoreField(func(c *Config) *float64 { return &c.Spam.RejectScore }, true, 0.1,
		"score from which a message is refused at SMTP time (550 5.7.1), so nothing is silently dropped; off: never"),
	"spam_min_training": intField(func(c *Config) *int { return &c.Spam.MinTraining }, 1, 100000,
		"trained spam and ham messages an account needs before its own model judges (before: the household model)"),
	"spam_memory": intField(func(c *Config) *int { return &c.Spam.MemoryMiB }, 8, 65536,
		"MiB of spam filter models kept in memory over all accounts (each model is capped at 8 MiB)"),
	"spam_rspamd_url": {
		get: func(c *Config) string {
			if c.Spam.RspamdURL == "" {
				return "off"
			}
			return c.Spam.RspamdURL
		},
		set: func(c *Config, v string) error {
			if v == "off" || v == "" {
				c.Spam.RspamdURL = ""
				return nil
			}
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
				return fmt.Errorf("%q is not an rspamd URL such as http://127.0.0.1:11333, or off", v)
			}
			c.Spam.RspamdURL = v
			return nil
		},
		doc: "rspamd worker (http://HOST:11333) whose verdict joins the box's own and to which training is forwarded; off (the default): none",
	},
}
