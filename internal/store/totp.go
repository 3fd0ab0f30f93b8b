package store

// TOTP (RFC 6238 over RFC 4226 HOTP) as Google Authenticator and its
// peers read it from an otpauth:// URI: HMAC-SHA-1, 30-second steps,
// 6 digits. The secret is 20 random bytes, base32 without padding,
// sealed at rest (below).

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	totpPeriod = 30
	totpDigits = 6
	// totpSkew is how many steps either side of now are accepted, for a
	// phone clock a little off and a code typed as it changed.
	totpSkew = 1
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a new random secret, base32-encoded.
func NewTOTPSecret() string {
	b := make([]byte, 20)
	rand.Read(b)
	return b32.EncodeToString(b)
}

func decodeSecret(secret string) ([]byte, error) {
	return b32.DecodeString(strings.ToUpper(strings.TrimRight(strings.ReplaceAll(secret, " ", ""), "=")))
}

// hotp is RFC 4226 section 5.3: the dynamically truncated HMAC-SHA-1 of
// the counter, modulo 10^digits.
func hotp(key []byte, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// totpStep is the RFC 6238 time step T of t.
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// TOTPCode returns the code of secret at time t (for tests and tools).
func TOTPCode(secret string, t time.Time) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", fmt.Errorf("TOTP secret is not base32: %w", err)
	}
	return hotp(key, uint64(totpStep(t)), totpDigits), nil
}

// MatchTOTP checks a code against secret at time now, within one step
// either side, and returns the matching step. Steps up to after are
// refused (a code already used must not work twice).
func MatchTOTP(secret, code string, now time.Time, after int64) (step int64, ok bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != totpDigits {
		return 0, false
	}
	key, err := decodeSecret(secret)
	if err != nil || len(key) == 0 {
		return 0, false
	}
	cur := totpStep(now)
	for st := cur - totpSkew; st <= cur+totpSkew; st++ {
		if st <= after || st < 0 {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(hotp(key, uint64(st), totpDigits)), []byte(code)) == 1 {
			return st, true
		}
	}
	return 0, false
}

// TOTPURI is the otpauth:// URI an authenticator app reads from a QR
// code (the Key Uri Format of Google Authenticator).
func TOTPURI(issuer, email, secret string) string {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	return "otpauth://totp/" + url.PathEscape(issuer+":"+email) + "?" + v.Encode()
}

// # Secrets at rest
//
// accounts.totp_secret holds "enc1:" and the base64 of a 12-byte nonce
// followed by the AES-256-GCM sealing of the base32 secret, with the
// account's id as additional data (a sealed secret copied to another
// account does not open). The key is DIR/keys/totp.key (64 hex digits,
// 0600, in a 0700 directory), made on first need, outside the database:
// a copy of boxmail.db alone does not give anyone's second factor.
// Secrets stored in clear by older versions keep working; Open seals them
// (EncryptTOTPSecrets), and so does their next use.
//
// Every node of a box must hold the same key file (issue 23), so the
// store records a check value of the key (totpKeyCheck: 8 bytes of an
// HMAC under the key, which tells nothing of it) in the settings table
// (boxsecrets.go), written insert-if-absent by the first node to make
// the key, or by the first Open of a box that had a key before. A node
// whose key file is missing or is another key refuses to seal or open
// (TOTPKeyError) instead of making its own; serve checks at start
// (CheckTOTPKey). Losing the key of a box makes the sealed secrets
// useless: 'boxmail user totp forget-key' turns every account's second
// factor off and forgets the check value, and the next setup makes a new
// key.

const (
	sealedPrefix  = "enc1:"
	totpKeyName   = "totp.key"
	totpCheckName = "totp.key.check" // its name in the settings table
)

// totpKey is the store's TOTP sealing key, read (or made) once.
type totpKey struct {
	mu   sync.Mutex
	aead cipher.AEAD
}

// TOTPKeyError is the refusal of a node whose TOTP sealing key file is
// missing or is not the box's key (its check value is not the one the
// store records).
type TOTPKeyError struct {
	Path    string // DIR/keys/totp.key
	Missing bool   // no file (else: another key)
}

func (e *TOTPKeyError) Error() string {
	if e.Missing {
		return fmt.Sprintf("this box's TOTP sealing key is not on this node: %s is missing; copy keys/totp.key from a node of this box into this data dir (0600); if the key is lost for good, 'boxmail user totp forget-key' turns every account's two-step login off", e.Path)
	}
	return fmt.Sprintf("%s is not this box's TOTP sealing key (its check value differs from the one the store records): copy keys/totp.key from a node of this box over it", e.Path)
}

// totpKeyCheck is the check value of a sealing key recorded in the
// store: the first 8 bytes of HMAC-SHA256(key, "boxmail totp key
// check"), in hex. It tells two keys apart and nothing more.
func totpKeyCheck(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("boxmail totp key check"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// totpKeyPath is DIR/keys/totp.key.
func (s *Store) totpKeyPath() string { return filepath.Join(s.dir, "keys", totpKeyName) }

// CheckTOTPKey checks this node's TOTP sealing key against the box's
// check value: nil when they match (recording the value when the box
// has none yet) or when neither exists; a *TOTPKeyError when the file
// is missing or another key. serve calls it before it starts; Open
// logs its error.
func (s *Store) CheckTOTPKey(ctx context.Context) error {
	_, err := s.totpAEAD(ctx, false)
	if errors.Is(err, os.ErrNotExist) {
		return nil // no key here and none recorded: nothing to hold to
	}
	return err
}

// totpAEAD returns the sealing cipher, making the key file when create
// is set and neither the file nor a check value of the box exists. A key
// file is used only when its check value is the box's (recorded here
// when there is none). It must not be called inside a write.
func (s *Store) totpAEAD(ctx context.Context, create bool) (cipher.AEAD, error) {
	s.totp.mu.Lock()
	defer s.totp.mu.Unlock()
	if s.totp.aead != nil {
		return s.totp.aead, nil
	}
	path := s.totpKeyPath()
	data, err := os.ReadFile(path)
	made := false
	if errors.Is(err, os.ErrNotExist) {
		_, recorded, cerr := s.BoxSecret(ctx, totpCheckName)
		switch {
		case cerr != nil:
			return nil, fmt.Errorf("TOTP key check value: %w", cerr)
		case recorded:
			return nil, &TOTPKeyError{Path: path, Missing: true}
		case create:
			data, err = makeKeyFile(path)
			made = err == nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("TOTP key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("TOTP key %s: not 64 hex digits", path)
	}
	check := totpKeyCheck(key)
	stored, recorded, err := s.BoxSecret(ctx, totpCheckName)
	if err == nil && !recorded {
		stored, err = s.AddBoxSecret(ctx, totpCheckName, check)
	}
	if err != nil {
		return nil, fmt.Errorf("TOTP key check value: %w", err)
	}
	if stored != check {
		if made { // lost the race to another node's new key: this one sealed nothing
			_ = os.Remove(path)
			return nil, &TOTPKeyError{Path: path, Missing: true}
		}
		return nil, &TOTPKeyError{Path: path}
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	s.totp.aead = aead
	return aead, nil
}

// ForgetTOTPKey is the way back from a lost TOTP sealing key: it turns
// the second factor of every account off, forgets the box's check value
// and removes this node's key file, so the next setup makes a new key
// (which the other nodes must then be given). It returns how many
// accounts had TOTP on.
func (s *Store) ForgetTOTPKey(ctx context.Context) (int, error) {
	defer s.auth.forget() // authcache.go
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.exec(ctx, "UPDATE accounts SET totp_secret = '', totp_step = 0 WHERE totp_secret != ''")
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.exec(ctx, "DELETE FROM settings WHERE key = ?", totpCheckName)
		return err
	})
	if err != nil {
		return 0, err
	}
	s.totp.mu.Lock()
	defer s.totp.mu.Unlock()
	s.totp.aead = nil
	if err := os.Remove(s.totpKeyPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return int(n), err
	}
	return int(n), nil
}

// makeKeyFile writes a new random key to path unless another process
// got there first (the file appears whole, by a hard link of a synced
// temporary file), and returns what path holds.
func makeKeyFile(path string) ([]byte, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	f, err := os.CreateTemp(dir, ".totp-key-*")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.Remove(f.Name()) }() // the temporary name: linked below, or of a failed write
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := os.Link(f.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

func secretAD(accountID int64) []byte {
	return []byte("boxmail totp secret\x00" + strconv.FormatInt(accountID, 10))
}

// sealSecret encrypts a base32 secret for an account.
func sealSecret(aead cipher.AEAD, accountID int64, secret string) string {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	rand.Read(nonce)
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(secret), secretAD(accountID)))
}

// openSecret returns the base32 secret of a stored value, sealed or (from
// older versions) clear; clear reports the latter. aead and aerr are
// what totpAEAD returned (it cannot run inside the caller's write).
func (s *Store) openSecret(aead cipher.AEAD, aerr error, accountID int64, stored string) (secret string, clear bool, err error) {
	if !strings.HasPrefix(stored, sealedPrefix) {
		return stored, true, nil
	}
	if aerr != nil {
		return "", false, aerr
	}
	b, err := base64.RawStdEncoding.DecodeString(stored[len(sealedPrefix):])
	if err != nil || len(b) < aead.NonceSize() {
		return "", false, fmt.Errorf("TOTP secret of account %d: malformed", accountID)
	}
	p, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], secretAD(accountID))
	if err != nil {
		return "", false, fmt.Errorf("TOTP secret of account %d does not open with %s: %w", accountID, s.totpKeyPath(), err)
	}
	return string(p), false, nil
}

// EncryptTOTPSecrets seals the secrets still stored in clear (written by
// an older version) and returns how many it sealed. Open calls it.
func (s *Store) EncryptTOTPSecrets(ctx context.Context) (int, error) {
	clear, err := queryAll(ctx, s.rdb, func(rs *sql.Rows) (clearSecret, error) {
		var r clearSecret
		return r, rs.Scan(&r.id, &r.secret)
	}, "SELECT id, totp_secret FROM accounts WHERE totp_secret != '' AND totp_secret NOT LIKE '"+sealedPrefix+"%'")
	if err != nil || len(clear) == 0 {
		return 0, err
	}
	return s.sealClear(ctx, clear)
}

// clearSecret is an account's TOTP secret stored in clear.
type clearSecret struct {
	id     int64
	secret string
}

// sealClear seals secrets stored in clear (unless they changed since
// they were read), making the key if there is none, and returns how
// many it sealed.
func (s *Store) sealClear(ctx context.Context, clear []clearSecret) (int, error) {
	aead, err := s.totpAEAD(ctx, true)
	if err != nil {
		return 0, err
	}
	n := 0
	err = s.write(ctx, func(ctx context.Context, tx *Tx) error {
		for _, r := range clear {
			res, err := tx.exec(ctx, "UPDATE accounts SET totp_secret = ? WHERE id = ? AND totp_secret = ?", sealSecret(aead, r.id, r.secret), r.id, r.secret)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k > 0 {
				n++
			}
		}
		return nil
	})
	return n, err
}
