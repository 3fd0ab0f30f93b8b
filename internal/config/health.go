package config

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// Health holds the settings of the box's health checks (issue 21): the
// free space kept on the data dir's disk, the status mail to the admin
// and the weekly usage report, and what the machine checks compare with.
type Health struct {
	// MinFreePercent of the data dir's disk (and inodes) is kept free:
	// below it SMTP answers 452 4.3.1 and IMAP APPEND NO [OVERQUOTA];
	// 0 turns the gate off. 'boxmail status' fails below it too.
	MinFreePercent int
	// AdminEmail receives the status mail and the usage report; ""
	// means postmaster@ the first hosted domain.
	AdminEmail string
	// StatusMail: mail the admin when a check's level changes;
	// StatusMailEvery is how often the checks run for it.
	StatusMail      bool
	StatusMailEvery time.Duration
	// UsageReport: a weekly report of each account's use.
	UsageReport bool
	// LatestRelease is the newest boxmail release the admin (or the
	// package) wrote down; status warns when this binary is older.
	LatestRelease string
	// NTPServer (host:port) is asked for the clock's offset; "" (the
	// default): the clock is not checked.
	NTPServer string
	// Port25Probe (host:port) is dialled to see whether outbound port 25
	// is open, unless a smarthost is set; "off": not checked.
	Port25Probe string
}

// DefaultHealth returns the defaults.
func DefaultHealth() Health {
	return Health{MinFreePercent: 5, StatusMail: true, StatusMailEvery: 24 * time.Hour, UsageReport: true,
		Port25Probe: "gmail-smtp-in.l.google.com:25"}
}

func healthBool(p func(c *Config) *bool, doc string) field {
	return field{
		get: func(c *Config) string { return strconv.FormatBool(*p(c)) },
		set: func(c *Config, v string) (err error) {
			*p(c), err = boolValue(v)
			return err
		},
		doc: doc,
	}
}

var healthFields = map[string]field{
	"min_free_percent": intField(func(c *Config) *int { return &c.Health.MinFreePercent }, 0, 50,
		"percent of the data dir's disk and inodes kept free: below it new mail is refused with 452 4.3.1 (0: never)"),
	"admin_email": stringField(func(c *Config) *string { return &c.Health.AdminEmail }, func(v string) error {
		if a, err := mail.ParseAddress(v); err != nil || a.Address != v || !strings.Contains(v, "@") {
			return fmt.Errorf("%q is not a mail address such as admin@example.org", v)
		}
		return nil
	}, "who gets the status mail and the weekly usage report; empty: postmaster@ the first hosted domain"),
	"status_mail": healthBool(func(c *Config) *bool { return &c.Health.StatusMail },
		"mail the admin when a status check changes (a new warning, a failure resolved)"),
	"status_mail_interval": durationField(func(c *Config) *time.Duration { return &c.Health.StatusMailEvery }, false,
		"how often the checks run for the status mail"),
	"usage_report": healthBool(func(c *Config) *bool { return &c.Health.UsageReport },
		"mail the admin a weekly report of each account's mailbox size, messages in and out and spam caught"),
	"latest_release": stringField(func(c *Config) *string { return &c.Health.LatestRelease }, func(v string) error {
		if _, ok := ParseVersion(v); !ok {
			return fmt.Errorf("%q is not a version such as 0.2.0", v)
		}
		return nil
	}, "the newest boxmail release (set by the admin or a package); 'boxmail status' warns when this binary is older"),
	"ntp_server": stringField(func(c *Config) *string { return &c.Health.NTPServer }, checkHostPort,
		"an NTP server (host:port) 'boxmail status' asks for the clock's offset; empty: the clock is not checked"),
	"port25_probe": stringField(func(c *Config) *string { return &c.Health.Port25Probe }, func(v string) error {
		if v == "off" {
			return nil
		}
		return checkHostPort(v)
	}, "a mail server (host:port) dialled to see that outbound port 25 is open, unless a smarthost is set; off: not checked"),
}

// ParseVersion reads "1.2.3" (a leading "v" and a "-suffix" allowed) into
// its three numbers.
func ParseVersion(v string) ([3]int, bool) {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexByte(v, '-'); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) == 0 || len(parts) > 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}
