package config

import (
	"strings"
	"testing"
	"time"
)

func TestBackupSettings(t *testing.T) {
	c := Default("mail.example.test")
	if c.Backup.Schedule != "03:30" || c.Backup.Keep != (BackupKeep{Daily: 7, Weekly: 4, Monthly: 12}) {
		t.Errorf("defaults = %+v", c.Backup)
	}
	for _, tc := range []struct {
		conf, err string
		keep      BackupKeep
		schedule  string
	}{
		{"backup_keep = 3d, 2y\nbackup_schedule = 23:05\n", "", BackupKeep{Daily: 3, Yearly: 2}, "23:05"},
		{"backup_keep = all\nbackup_schedule = off\n", "", BackupKeep{}, "off"},
		{"backup_keep = 7x\n", `"7x": want counts`, BackupKeep{}, ""},
		{"backup_keep = 7d, 3d\n", `"3d": want counts`, BackupKeep{}, ""},
		{"backup_schedule = 3:5\n", `"3:5": want a time of day`, BackupKeep{}, ""},
		{"backup_verify_identity = id.txt\n", `"id.txt": want an absolute path`, BackupKeep{}, ""},
		{"backup_schedule = 24:00\n", `want a time of day`, BackupKeep{}, ""},
	} {
		got, err := Parse("boxmail.conf", []byte("hostname = mail.example.test\n"+tc.conf))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.conf, err, tc.err)
			}
			continue
		}
		if err != nil || got.Backup.Keep != tc.keep || got.Backup.Schedule != tc.schedule {
			t.Errorf("%q: %+v, %v", tc.conf, got.Backup, err)
		}
		if again, err := Parse("x", got.Format()); err != nil || again.Backup != got.Backup {
			t.Errorf("%q: round trip %+v, %v", tc.conf, again.Backup, err)
		}
	}
	loc := time.FixedZone("x", 3600)
	b := Backup{Schedule: "03:30"}
	if next, ok := b.NextBackup(time.Date(2026, 1, 1, 3, 30, 0, 0, loc)); !ok || !next.Equal(time.Date(2026, 1, 2, 3, 30, 0, 0, loc)) {
		t.Errorf("next = %v", next)
	}
	if next, _ := b.NextBackup(time.Date(2026, 1, 1, 1, 0, 0, 0, loc)); !next.Equal(time.Date(2026, 1, 1, 3, 30, 0, 0, loc)) {
		t.Errorf("next = %v", next)
	}
	if _, ok := (Backup{Schedule: "off"}).NextBackup(time.Now()); ok {
		t.Error("off schedules")
	}
}
