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
// (EncryptTOTPSecrets), and so does their next use. Losing the key file
// makes the sealed secrets useless: 'boxmail user totp EMAIL disable'
// and setting two-step login up again is the way back.

const (
	sealedPrefix = "enc1:"
	totpKeyName  = "totp.key"
)

// totpKey is the store's TOTP sealing key, read (or made) once.
type totpKey struct {
	mu   sync.Mutex
	aead cipher.AEAD
}

// totpKeyPath is DIR/keys/totp.key.
func (s *Store) totpKeyPath() string { return filepath.Join(s.dir, "keys", totpKeyName) }

// totpAEAD returns the sealing cipher, making the key file when create
// is set and there is none.
func (s *Store) totpAEAD(create bool) (cipher.AEAD, error) {
	s.totp.mu.Lock()
	defer s.totp.mu.Unlock()
	if s.totp.aead != nil {
		return s.totp.aead, nil
	}
	path := s.totpKeyPath()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		data, err = makeKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("TOTP key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("TOTP key %s: not 64 hex digits", path)
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
// older versions) clear; clear reports the latter.
func (s *Store) openSecret(accountID int64, stored string) (secret string, clear bool, err error) {
	if !strings.HasPrefix(stored, sealedPrefix) {
		return stored, true, nil
	}
	aead, err := s.totpAEAD(false)
	if err != nil {
		return "", false, err
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
	type row struct {
		id     int64
		secret string
	}
	clear, err := queryAll(ctx, s.rdb, func(rs *sql.Rows) (row, error) {
		var r row
		return r, rs.Scan(&r.id, &r.secret)
	}, "SELECT id, totp_secret FROM accounts WHERE totp_secret != '' AND totp_secret NOT LIKE '"+sealedPrefix+"%'")
	if err != nil || len(clear) == 0 {
		return 0, err
	}
	aead, err := s.totpAEAD(true)
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
