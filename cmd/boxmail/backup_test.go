package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"boxmail/internal/backup"
	"boxmail/internal/config"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/store"
)

// The scheduled run verifies presence and sizes every night and, once a
// week, reads everything back (without the identity) or, with
// backup_verify_identity, decrypts everything; 'boxmail status' shows
// the date and the kind, and warns when it failed.
func TestScheduledBackupVerifiesDeeplyOnceAWeek(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	target := filepath.Join(t.TempDir(), "target")
	id, _, err := backup.Init(ctx, st, dir, target, false)
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "id.txt")
	if err := os.WriteFile(idFile, []byte(backup.IdentityText(id, time.Now())), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default("mail.example.test")
	log := slog.New(slog.DiscardHandler)
	status := func() backup.Status {
		t.Helper()
		s, err := backup.ReadStatus(ctx, st, dir)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	check := func(now time.Time, level dnsrecords.Level, want string) {
		t.Helper()
		if r := backupCheck(ctx, dir, st, cfg.Hostname, now); r.Level != level || !strings.Contains(r.Found, want) {
			t.Errorf("status: %v %q, want %v with %q", r.Level, r.Found, level, want)
		}
	}
	if err := scheduledBackup(ctx, dir, cfg, st, log); err != nil {
		t.Fatal(err)
	}
	first := status()
	if first.DeepVerifyKind != "read" || first.LastDeepVerify.IsZero() || first.VerifyKind != "read" {
		t.Errorf("the first scheduled run verified %q, deep %q at %v; want a read-back", first.VerifyKind, first.DeepVerifyKind, first.LastDeepVerify)
	}
	check(time.Now(), dnsrecords.OK, "weekly verify (read back, without the identity) "+first.LastDeepVerify.Format(time.RFC3339))
	if err := scheduledBackup(ctx, dir, cfg, st, log); err != nil {
		t.Fatal(err)
	}
	if s := status(); s.VerifyKind != "presence" || !s.LastDeepVerify.Equal(first.LastDeepVerify) {
		t.Errorf("the next night verified %q, deep at %v; want presence only", s.VerifyKind, s.LastDeepVerify)
	}
	s, err := backup.LoadSettings(ctx, st, dir)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := backup.Open(s.Target)
	if err != nil {
		t.Fatal(err)
	}
	// A week later, with the identity configured: a full verify.
	cfg.Backup.VerifyIdentity = idFile
	week := time.Now().Add(backup.DeepVerifyEvery)
	if kind, err := scheduledVerify(ctx, dir, cfg, st, s, tg, week); kind != "full" || err != nil {
		t.Fatalf("a week later: %s, %v", kind, err)
	}
	check(week, dnsrecords.OK, "weekly verify (full: decrypted, re-hashed) "+week.UTC().Format(time.RFC3339))
	// An object cut at a piece boundary: only the recorded size tells,
	// and the nightly check sees it.
	objs, err := filepath.Glob(filepath.Join(target, "objects", "*", "*"))
	if err != nil || len(objs) == 0 {
		t.Fatalf("objects: %v, %v", objs, err)
	}
	data, err := os.ReadFile(objs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(objs[0], append(data, make([]byte, 64<<10+16)...), 0o600); err != nil {
		t.Fatal(err)
	}
	night := week.Add(24 * time.Hour)
	if kind, err := scheduledVerify(ctx, dir, cfg, st, s, tg, night); kind != "presence" || err == nil || !strings.Contains(err.Error(), filepath.Base(objs[0])) {
		t.Errorf("the night after the damage: %s, %v", kind, err)
	}
	check(night, dnsrecords.Warn, "the last verify (presence, ")
	if err := os.WriteFile(objs[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	// The identity file gone: the weekly verify fails and says why.
	cfg.Backup.VerifyIdentity = filepath.Join(t.TempDir(), "gone.txt")
	later := week.Add(backup.DeepVerifyEvery)
	if kind, err := scheduledVerify(ctx, dir, cfg, st, s, tg, later); kind != "full" || err == nil || !strings.Contains(err.Error(), "backup_verify_identity") {
		t.Errorf("without the identity file: %s, %v", kind, err)
	}
	check(later, dnsrecords.Warn, "backup_verify_identity")
}
