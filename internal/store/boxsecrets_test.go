package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"boxmail/internal/testutil/pgtest"
)

// nodeDirs are the data dirs of two nodes of one box: on PostgreSQL two
// directories on one database; on SQLite, whose database is a file of
// its data dir, one directory (a second process on the same box).
func nodeDirs(t *testing.T) (string, string) {
	t.Helper()
	d1 := t.TempDir()
	if !pgtest.Enabled() {
		return d1, d1
	}
	d2 := t.TempDir()
	url, err := pgtest.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	pgDBsMu.Lock()
	pgDBs[d1], pgDBs[d2] = url, url
	pgDBsMu.Unlock()
	return d1, d2
}

func openAt(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := testOpen(context.Background(), dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// A box upgraded in place keeps the SRS key of its srs.key file (the
// addresses it signed before still verify), every node then uses the
// store's, and a box without the file gets a key without a file.
func TestTheSRSKeyMovesFromItsFileIntoTheStore(t *testing.T) {
	ctx := context.Background()
	d1, d2 := nodeDirs(t)
	old := randomHex(32)
	writeFile(t, filepath.Join(d1, "srs.key"), strings.ToUpper(old)+"\n") // as an older version left it
	s1 := openAt(t, d1)
	if v, ok, err := s1.BoxSecret(ctx, srsKeyName); !ok || v != old || err != nil {
		t.Fatalf("after Open the store holds %q %v %v, want the file's key", v, ok, err)
	}
	k, err := s1.SRSKey(ctx)
	if err != nil || hex.EncodeToString(k) != old {
		t.Fatalf("SRSKey = %x, %v; want the file's", k, err)
	}
	// The file is no longer read: another node, with another file or none.
	writeFile(t, filepath.Join(d2, "srs.key"), randomHex(32)+"\n")
	s2 := openAt(t, d2)
	if k2, err := s2.SRSKey(ctx); err != nil || !bytes.Equal(k2, k) {
		t.Errorf("the second node's SRS key = %x, %v; want the box's %x", k2, err, k)
	}
	if err := os.Remove(filepath.Join(d2, "srs.key")); err != nil {
		t.Fatal(err)
	}
	if k2, err := openAt(t, d2).SRSKey(ctx); err != nil || !bytes.Equal(k2, k) {
		t.Errorf("without the file: %x, %v", k2, err)
	}

	fresh := openAt(t, t.TempDir())
	k3, err := fresh.SRSKey(ctx)
	if err != nil || len(k3) != 32 || bytes.Equal(k3, k) {
		t.Fatalf("a new box's SRS key: %x, %v", k3, err)
	}
	if again, _ := fresh.SRSKey(ctx); !bytes.Equal(again, k3) {
		t.Error("the SRS key changed between two calls")
	}
	if _, err := os.Stat(filepath.Join(fresh.dir, "srs.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a new box wrote srs.key: %v", err)
	}
}

// Two nodes starting at once, each without a key, agree on one.
func TestNodesStartingAtOnceAgreeOnOneSRSKey(t *testing.T) {
	ctx := context.Background()
	d1, d2 := nodeDirs(t)
	nodes := []*Store{openAt(t, d1), openAt(t, d2)}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := nodes[i%2].SRSKey(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			seen[hex.EncodeToString(k)]++
		}()
	}
	wg.Wait()
	if len(seen) != 1 {
		t.Errorf("the nodes use %d SRS keys: %v", len(seen), seen)
	}
}

// The TOTP sealing key stays a file of each node; the store records only
// a check value of it, and a node whose file is missing or another key
// refuses to seal or open instead of making its own.
func TestANodeWithoutTheBoxsTOTPKeyRefuses(t *testing.T) {
	ctx := context.Background()
	d1, d2 := nodeDirs(t)
	s1 := openAt(t, d1)
	newAccount(t, s1, "me@example.test")
	newAccount(t, s1, "kid@example.test")
	if err := s1.CheckTOTPKey(ctx); err != nil {
		t.Fatalf("a box without TOTP: %v", err)
	}
	sec := NewTOTPSecret()
	if err := s1.EnableTOTP(ctx, "me@example.test", sec, 0); err != nil {
		t.Fatal(err)
	}
	keyFile := s1.totpKeyPath()
	keyText, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := hex.DecodeString(strings.TrimSpace(string(keyText)))
	check, ok, err := s1.BoxSecret(ctx, totpCheckName)
	if !ok || err != nil || check != totpKeyCheck(key) || len(check) != 16 {
		t.Fatalf("recorded check value %q %v %v", check, ok, err)
	}
	if strings.Contains(check, strings.TrimSpace(string(keyText))[:16]) {
		t.Fatal("the check value is a piece of the key")
	}

	// Node 2 has no key file (on SQLite: the file went away).
	node2Key := filepath.Join(d2, "keys", totpKeyName)
	if err := os.Remove(node2Key); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	s2 := openAt(t, d2)
	var ke *TOTPKeyError
	if err := s2.CheckTOTPKey(ctx); !errors.As(err, &ke) || !ke.Missing || !strings.Contains(err.Error(), "copy keys/totp.key from a node of this box") {
		t.Fatalf("node 2 without the key: %v", err)
	}
	if err := s2.EnableTOTP(ctx, "kid@example.test", NewTOTPSecret(), 0); !errors.As(err, &ke) {
		t.Errorf("node 2 sealed without the key: %v", err)
	}
	if _, err := os.Stat(node2Key); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("node 2 made a key of its own: %v", err)
	}
	now := time.Now()
	code, _ := TOTPCode(sec, now)
	if err := s2.CheckTOTP(ctx, "me@example.test", code, now); !errors.As(err, &ke) {
		t.Errorf("node 2 opened a secret without the key: %v", err)
	}
	// Another key: refused too, and the message says what to do.
	writeFile(t, node2Key, randomHex(32)+"\n")
	if err := openAt(t, d2).CheckTOTPKey(ctx); !errors.As(err, &ke) || ke.Missing || !strings.Contains(err.Error(), "is not this box's TOTP sealing key") {
		t.Errorf("node 2 with another key: %v", err)
	}
	// The box's key copied over: node 2 opens node 1's secrets.
	writeFile(t, node2Key, string(keyText))
	s2 = openAt(t, d2)
	if err := s2.CheckTOTPKey(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s2.CheckTOTP(ctx, "me@example.test", code, now); err != nil {
		t.Errorf("node 2 with the box's key: %v", err)
	}
}

// A box whose key was made before the check value existed records it at
// its next Open; a box that lost its key for good starts over with
// ForgetTOTPKey.
func TestTheTOTPKeyCheckIsRecordedOnOpenAndCanBeForgotten(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openAt(t, dir)
	newAccount(t, s, "me@example.test")
	if err := s.EnableTOTP(ctx, "me@example.test", NewTOTPSecret(), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.write(ctx, func(ctx context.Context, tx *Tx) error { // as an older version left it
		_, err := tx.exec(ctx, "DELETE FROM settings WHERE key = ?", totpCheckName)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openAt(t, dir)
	if v, ok, err := s.BoxSecret(ctx, totpCheckName); !ok || err != nil || v == "" {
		t.Fatalf("not recorded at Open: %q %v %v", v, ok, err)
	}
	if err := os.Remove(s.totpKeyPath()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openAt(t, dir)
	if err := s.CheckTOTPKey(ctx); err == nil {
		t.Fatal("the lost key went unnoticed")
	}
	if n, err := s.ForgetTOTPKey(ctx); n != 1 || err != nil {
		t.Fatalf("ForgetTOTPKey = %d, %v", n, err)
	}
	if on, _ := s.TOTPEnabled(ctx, "me@example.test"); on {
		t.Error("TOTP still on after the key was forgotten")
	}
	if err := s.CheckTOTPKey(ctx); err != nil {
		t.Errorf("after forgetting: %v", err)
	}
	if err := s.EnableTOTP(ctx, "me@example.test", NewTOTPSecret(), 0); err != nil {
		t.Errorf("setting up again: %v", err)
	}
}

// Two nodes setting up the first second factor of a box at once: one key
// wins. On PostgreSQL (two data dirs) the node whose new key lost
// removes it and refuses; on SQLite (one data dir) both take the one
// file.
func TestTwoNodesMakingTheFirstTOTPKeyAtOnceKeepOne(t *testing.T) {
	ctx := context.Background()
	d1, d2 := nodeDirs(t)
	nodes := []*Store{openAt(t, d1), openAt(t, d2)}
	emails := []string{"me@example.test", "kid@example.test"}
	for _, e := range emails {
		newAccount(t, nodes[0], e)
	}
	secrets := []string{NewTOTPSecret(), NewTOTPSecret()}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = nodes[i].EnableTOTP(ctx, emails[i], secrets[i], 0)
		}()
	}
	wg.Wait()
	check, ok, err := nodes[0].BoxSecret(ctx, totpCheckName)
	if !ok || err != nil {
		t.Fatalf("no check value recorded: %v", err)
	}
	won := 0
	for i, err := range errs {
		var ke *TOTPKeyError
		if err != nil {
			if !errors.As(err, &ke) {
				t.Errorf("node %d: %v", i+1, err)
			}
			if _, serr := os.Stat(nodes[i].totpKeyPath()); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("node %d kept the key that lost: %v", i+1, serr)
			}
			continue
		}
		won++
		text, _ := os.ReadFile(nodes[i].totpKeyPath())
		key, _ := hex.DecodeString(strings.TrimSpace(string(text)))
		if totpKeyCheck(key) != check {
			t.Errorf("node %d sealed with a key that is not the box's", i+1)
		}
		now := time.Now()
		code, _ := TOTPCode(secrets[i], now)
		if err := nodes[i].CheckTOTP(ctx, emails[i], code, now); err != nil {
			t.Errorf("node %d: its account's code: %v", i+1, err)
		}
	}
	if want := map[bool]int{true: 2, false: 1}[d1 == d2]; won != want {
		t.Errorf("%d nodes set TOTP up, want %d (errors %v)", won, want, errs)
	}
}
