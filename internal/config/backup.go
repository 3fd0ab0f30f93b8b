package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Backup holds the settings of scheduled backups. Where backups go and
// to whom they are encrypted is not configuration: 'boxmail backup init'
// stores it in the data directory.
type Backup struct {
	// Schedule is the time of day (local, "03:30") of the nightly run of
	// a box whose backups are set up; Off disables it.
	Schedule string
	// Keep is the retention: how many daily, weekly, monthly and yearly
	// snapshots to keep (the newest of each period); the newest snapshot
	// is always kept. All zero keeps everything.
	Keep BackupKeep
	// VerifyIdentity is the path of the backup identity file that makes
	// the weekly verify of the scheduled backup a full one (decrypt and
	// re-hash everything); "" keeps it to what needs no identity.
	VerifyIdentity string
}

// BackupKeep is the parsed backup_keep.
type BackupKeep struct{ Daily, Weekly, Monthly, Yearly int }

// DefaultBackup returns the defaults: nightly at 03:30, keep 7 daily,
// 4 weekly and 12 monthly snapshots.
func DefaultBackup() Backup {
	return Backup{Schedule: "03:30", Keep: BackupKeep{Daily: 7, Weekly: 4, Monthly: 12}}
}

// NextBackup returns the next time after now the schedule says to run;
// ok is false when it is off.
func (b Backup) NextBackup(now time.Time) (next time.Time, ok bool) {
	h, m, err := parseClock(b.Schedule)
	if err != nil {
		return time.Time{}, false
	}
	next = time.Date(now.Year(), now.Month(), now.Day(), h, m, 0, 0, now.Location())
	if !next.After(now) {
		next = next.AddDate(0, 0, 1)
	}
	return next, true
}

func parseClock(v string) (int, int, error) {
	hs, ms, ok := strings.Cut(v, ":")
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if !ok || err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 || len(ms) != 2 {
		return 0, 0, fmt.Errorf("%q: want a time of day such as 03:30, or off", v)
	}
	return h, m, nil
}

func (k BackupKeep) String() string {
	var l []string
	for _, p := range []struct {
		n    int
		unit string
	}{{k.Daily, "d"}, {k.Weekly, "w"}, {k.Monthly, "m"}, {k.Yearly, "y"}} {
		if p.n > 0 {
			l = append(l, strconv.Itoa(p.n)+p.unit)
		}
	}
	if len(l) == 0 {
		return "all"
	}
	return strings.Join(l, ", ")
}

func parseKeep(v string) (BackupKeep, error) {
	var k BackupKeep
	if v == "all" {
		return k, nil
	}
	seen := map[byte]bool{}
	for _, x := range splitListValue(v) {
		if len(x) < 2 {
			return k, fmt.Errorf("%q: want counts such as 7d, 4w, 12m, 2y (days, weeks, months, years; each once), or all", x)
		}
		n, err := strconv.Atoi(x[:len(x)-1])
		unit := x[len(x)-1]
		if err != nil || n < 1 || n > 1000 || seen[unit] {
			return k, fmt.Errorf("%q: want counts such as 7d, 4w, 12m, 2y (days, weeks, months, years; each once), or all", x)
		}
		seen[unit] = true
		switch unit {
		case 'd':
			k.Daily = n
		case 'w':
			k.Weekly = n
		case 'm':
			k.Monthly = n
		case 'y':
			k.Yearly = n
		default:
			return k, fmt.Errorf("%q: want counts such as 7d, 4w, 12m, 2y (days, weeks, months, years; each once), or all", x)
		}
	}
	if len(seen) == 0 {
		return k, fmt.Errorf("empty: want counts such as 7d, 4w, 12m, or all")
	}
	return k, nil
}

var backupFields = map[string]field{
	"backup_schedule": {
		get: func(c *Config) string { return c.Backup.Schedule },
		set: func(c *Config, v string) error {
			if v != "off" {
				if _, _, err := parseClock(v); err != nil {
					return err
				}
			}
			c.Backup.Schedule = v
			return nil
		},
		doc: "time of day (local, HH:MM) of the nightly backup once 'boxmail backup init' set it up, or off",
	},
	"backup_keep": {
		get: func(c *Config) string { return c.Backup.Keep.String() },
		set: func(c *Config, v string) (err error) {
			c.Backup.Keep, err = parseKeep(v)
			return err
		},
		doc: "snapshots kept after each backup run: the newest of so many days, weeks, months, years (e.g. 7d, 4w, 12m), or all",
	},
	"backup_verify_identity": {
		get: func(c *Config) string { return c.Backup.VerifyIdentity },
		set: func(c *Config, v string) error {
			if v != "" && !filepath.IsAbs(v) {
				return fmt.Errorf("%q: want an absolute path to the backup identity file, or nothing", v)
			}
			c.Backup.VerifyIdentity = v
			return nil
		},
		doc: "identity file (absolute path) that makes the weekly verify decrypt and re-hash every backup object; a box that can read it can read its backups, so keep it on a medium mounted for the purpose; empty: the weekly verify reads every object back without decrypting",
	},
}
