package store

// Logins beyond the main password: the TOTP second factor of the web
// login, app passwords for devices, and each account's first and last
// login.
//
// Rules (AuthenticateDevice, used by SMTP submission, IMAP, POP3 and
// ManageSieve):
//   - without TOTP, the main password or any app password logs in;
//   - with TOTP on, only app passwords do: the main password (which
//     needs a second factor) works only on the web (Authenticate plus
//     CheckTOTP).
//
// App passwords are made by the box (16 letters, about 72 bits), never
// chosen by a person, so a SHA-256 of them is as safe to store as a bcrypt
// hash and can be looked up at once, without one bcrypt per device
// password at each login of a busy IMAP client.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// LoginRecord is one login: when, over which protocol, from where.
type LoginRecord struct {
	At       time.Time
	Protocol string // "imap", "pop3", "smtp", "managesieve", "web"
	Addr     string // client IP address
}

// AuthenticateDevice checks a device's login (see the rules above),
// records it as the account's last login (and the app password's last
// use) with from's protocol and client address (its At is ignored: the
// login is recorded now; an empty Protocol is "device") and returns the
// account. Any refusal is ErrAuthFailed.
func (s *Store) AuthenticateDevice(ctx context.Context, email, password string, from LoginRecord) (Account, error) {
	var a Account
	var h, secret string
	var c int64
	err := s.rdb.QueryRowContext(ctx, "SELECT id, email, admin, created, pwhash, totp_secret FROM accounts WHERE email = ? AND disabled = 0",
		strings.ToLower(email)).Scan(&a.ID, &a.Email, &a.Admin, &c, &h, &secret)
	if errors.Is(err, sql.ErrNoRows) {
		s.passwordMatches("", password) // as long as a wrong password takes
		return Account{}, ErrAuthFailed
	} else if err != nil {
		return Account{}, err
	}
	a.Created = time.Unix(c, 0)
	appID := int64(0)
	if norm, ok := normalizeAppPassword(password); ok {
		err := s.rdb.QueryRowContext(ctx, "SELECT id FROM app_passwords WHERE account_id = ? AND pwhash = ?", a.ID, hashAppPassword(norm)).Scan(&appID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return Account{}, err
		}
	}
	if appID == 0 {
		// The main password is compared even with TOTP on, so the time
		// taken does not tell whether TOTP is on; and then with bcrypt
		// every time (not the login cache, authcache.go), or a quick
		// refusal would tell that the password is right.
		if secret != "" {
			s.passwordMatches(h, password)
			return Account{}, ErrAuthFailed
		}
		if !s.verifyPassword(a.ID, h, password) {
			return Account{}, ErrAuthFailed
		}
	}
	if from.Protocol == "" {
		from.Protocol = "device"
	}
	if err := s.recordLogin(ctx, a.ID, appID, from); err != nil {
		s.log.Error("recording a login", "account", a.Email, "err", err)
	}
	return a, nil
}

// RecordLogin records a successful login of an account (the web login
// calls it after the password and TOTP checks).
func (s *Store) RecordLogin(ctx context.Context, accountID int64, protocol, addr string) error {
	return s.recordLogin(ctx, accountID, 0, LoginRecord{Protocol: protocol, Addr: addr})
}

// loginNotes remembers each account's last recorded login, so that a
// phone reconnecting every few minutes, or a client opening a connection
// per folder, does not cost a write transaction (and its fsync) on every
// login: a login with the same app password, protocol and address as the
// account's last recorded one, within loginNoteEvery of it, leaves the
// record as it is. "Last login" becomes precise to that much; a first
// login, or one that differs from the last, is always written.
type loginNotes struct {
	mu   sync.Mutex
	last map[int64]loginNote // by account
}

type loginNote struct {
	app         int64
	proto, addr string
	at          time.Time
}

const (
	loginNoteEvery = 5 * time.Minute
	loginNotesMax  = 4096
)

// fresh reports whether n is the account's last recorded login, recorded
// lately; if not, it notes n as recorded (forgetOne undoes that when the
// write fails).
func (l *loginNotes) fresh(account int64, n loginNote) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.last[account]; ok && p.app == n.app && p.proto == n.proto && p.addr == n.addr &&
		n.at.Sub(p.at) >= 0 && n.at.Sub(p.at) < loginNoteEvery {
		return true
	}
	if l.last == nil || len(l.last) >= loginNotesMax {
		l.last = make(map[int64]loginNote) // start over rather than track age
	}
	l.last[account] = n
	return false
}

// forgetOne forgets an account's note; forget forgets them all.
func (l *loginNotes) forgetOne(account int64) {
	l.mu.Lock()
	delete(l.last, account)
	l.mu.Unlock()
}

func (l *loginNotes) forget() {
	l.mu.Lock()
	l.last = nil
	l.mu.Unlock()
}

func (s *Store) recordLogin(ctx context.Context, accountID, appID int64, from LoginRecord) error {
	s.Record(EventLogin) // the health history (history.go)
	if s.logins.fresh(accountID, loginNote{appID, from.Protocol, from.Addr, time.Now()}) {
		return nil
	}
	err := s.writeLogin(ctx, accountID, appID, from)
	if err != nil {
		s.logins.forgetOne(accountID)
	}
	return err
}

func (s *Store) writeLogin(ctx context.Context, accountID, appID int64, from LoginRecord) error {
	ts := now()
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		if appID != 0 {
			if _, err := tx.exec(ctx, "UPDATE app_passwords SET last_used = ?, last_proto = ?, last_addr = ? WHERE id = ?", ts, from.Protocol, from.Addr, appID); err != nil {
				return err
			}
		}
		_, err := tx.exec(ctx, `INSERT INTO logins(account_id, first_at, first_proto, first_addr, last_at, last_proto, last_addr)
			SELECT id, ?, ?, ?, ?, ?, ? FROM accounts WHERE id = ?
			ON CONFLICT(account_id) DO UPDATE SET last_at = excluded.last_at, last_proto = excluded.last_proto, last_addr = excluded.last_addr`,
			ts, from.Protocol, from.Addr, ts, from.Protocol, from.Addr, accountID)
		return err
	})
}

// Logins are an account's first and last login; zero At means none.
type Logins struct {
	First, Last LoginRecord
}

// FirstLogin returns the first login ever recorded for the account, or
// ErrNotFound when it never logged in.
func (s *Store) FirstLogin(ctx context.Context, accountID int64) (LoginRecord, error) {
	l, err := s.LoginsOf(ctx, accountID)
	return l.First, err
}

// LoginsOf returns an account's first and last login, or ErrNotFound.
func (s *Store) LoginsOf(ctx context.Context, accountID int64) (Logins, error) {
	var l Logins
	var f, la int64
	err := s.rdb.QueryRowContext(ctx, "SELECT first_at, first_proto, first_addr, last_at, last_proto, last_addr FROM logins WHERE account_id = ?", accountID).
		Scan(&f, &l.First.Protocol, &l.First.Addr, &la, &l.Last.Protocol, &l.Last.Addr)
	if errors.Is(err, sql.ErrNoRows) {
		return l, ErrNotFound
	} else if err != nil {
		return l, err
	}
	l.First.At, l.Last.At = time.Unix(f, 0), time.Unix(la, 0)
	return l, nil
}

// AllLogins returns the logins of every account that logged in, by
// account ID.
func (s *Store) AllLogins(ctx context.Context) (map[int64]Logins, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT account_id, first_at, first_proto, first_addr, last_at, last_proto, last_addr FROM logins")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]Logins{}
	for rows.Next() {
		var id, f, la int64
		var l Logins
		if err := rows.Scan(&id, &f, &l.First.Protocol, &l.First.Addr, &la, &l.Last.Protocol, &l.Last.Addr); err != nil {
			return nil, err
		}
		l.First.At, l.Last.At = time.Unix(f, 0), time.Unix(la, 0)
		out[id] = l
	}
	return out, rows.Err()
}

// TOTPEnabled reports whether the account has the second factor on.
func (s *Store) TOTPEnabled(ctx context.Context, email string) (bool, error) {
	var secret string
	err := s.rdb.QueryRowContext(ctx, "SELECT totp_secret FROM accounts WHERE email = ?", strings.ToLower(email)).Scan(&secret)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("account %s: %w", email, ErrNotFound)
	}
	return secret != "", err
}

// EnableTOTP turns the second factor on with secret (NewTOTPSecret);
// usedStep is the step of the code that confirmed it (0: none), which
// cannot be used again. It fails with ErrExists when TOTP is already on.
func (s *Store) EnableTOTP(ctx context.Context, email, secret string, usedStep int64) error {
	defer s.auth.forget() // authcache.go: logins with the old secret are verified anew
	if k, err := decodeSecret(secret); err != nil || len(k) < 10 {
		return fmt.Errorf("TOTP secret: %w", ErrInvalid)
	}
	aead, err := s.totpAEAD(ctx, true)
	if err != nil {
		return err
	}
	email = strings.ToLower(email)
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var id int64
		var cur string
		if err := tx.queryRow(ctx, "SELECT id, totp_secret FROM accounts WHERE email = ?", email).Scan(&id, &cur); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("account %s: %w", email, ErrNotFound)
		} else if err != nil {
			return err
		}
		if cur != "" {
			return fmt.Errorf("two-step login of %s is already on: %w", email, ErrExists)
		}
		_, err := tx.exec(ctx, "UPDATE accounts SET totp_secret = ?, totp_step = ? WHERE id = ?", sealSecret(aead, id, secret), usedStep, id)
		return err
	})
}

// DisableTOTP turns the second factor off (the main password works for
// devices again).
func (s *Store) DisableTOTP(ctx context.Context, email string) error {
	defer s.auth.forget() // authcache.go: logins with the old secret are verified anew
	return s.updateAccount(ctx, email, "UPDATE accounts SET totp_secret = '', totp_step = ? WHERE email = ?", 0)
}

// CheckTOTP checks a code of the account's second factor at time now and
// marks its step used, so the same code does not work twice. A wrong or
// reused code, or TOTP off, is ErrAuthFailed.
func (s *Store) CheckTOTP(ctx context.Context, email, code string, now time.Time) error {
	email = strings.ToLower(email)
	aead, aerr := s.totpAEAD(ctx, false) // totp.go; not inside the write
	var sealLater []clearSecret
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var id, last int64
		var stored string
		if err := tx.queryRow(ctx, "SELECT id, totp_secret, totp_step FROM accounts WHERE email = ?", email).Scan(&id, &stored, &last); errors.Is(err, sql.ErrNoRows) {
			return ErrAuthFailed
		} else if err != nil {
			return err
		}
		if stored == "" {
			return ErrAuthFailed
		}
		secret, clear, err := s.openSecret(aead, aerr, id, stored)
		if err != nil {
			return err
		}
		st, ok := MatchTOTP(secret, code, now, last)
		if !ok {
			return ErrAuthFailed
		}
		if clear { // from an older version: sealed on this write, or right after when there is no key yet (totp.go)
			if aead != nil {
				stored = sealSecret(aead, id, secret)
			} else {
				sealLater = []clearSecret{{id, secret}}
			}
		}
		_, err = tx.exec(ctx, "UPDATE accounts SET totp_step = ?, totp_secret = ? WHERE id = ?", st, stored, id)
		return err
	})
	if err == nil && sealLater != nil {
		if _, serr := s.sealClear(ctx, sealLater); serr != nil {
			s.log.Warn("sealing a TOTP secret stored in clear", "err", serr)
		}
	}
	return err
}

// AppPassword describes one app password (never the password itself).
type AppPassword struct {
	Name     string
	Created  time.Time
	LastUsed LoginRecord // zero At: never used
}

// appAlphabet has no letters that are easily confused (i, l, o).
const appAlphabet = "abcdefghjkmnpqrstuvwxyz"

// newAppPassword returns 16 random letters in groups of four.
func newAppPassword() string {
	var b strings.Builder
	buf := make([]byte, 1)
	for n := 0; n < 16; {
		rand.Read(buf)
		if int(buf[0]) >= 256/len(appAlphabet)*len(appAlphabet) {
			continue // no modulo bias
		}
		if n > 0 && n%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(appAlphabet[int(buf[0])%len(appAlphabet)])
		n++
	}
	return b.String()
}

// normalizeAppPassword drops the dashes and spaces a person may or may
// not type; it reports false for what cannot be an app password.
func normalizeAppPassword(p string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToLower(p) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(appAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	return b.String(), b.Len() == 16
}

func hashAppPassword(norm string) string {
	h := sha256.Sum256([]byte("boxmail app password\x00" + norm))
	return hex.EncodeToString(h[:])
}

// CheckAppPasswordName refuses names that are empty, too long or hold
// control characters.
func CheckAppPasswordName(name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("the app password needs a name, such as the device it is for: %w", ErrInvalid)
	}
	if len(name) > 64 {
		return fmt.Errorf("the app password's name is longer than 64 characters: %w", ErrInvalid)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("the app password's name holds a control character: %w", ErrInvalid)
		}
	}
	return nil
}

// AddAppPassword makes a new app password for the account and returns
// it: this is the only time it can be seen. Names are unique per account.
func (s *Store) AddAppPassword(ctx context.Context, email, name string) (string, error) {
	defer s.auth.forget() // authcache.go: logins with the old secret are verified anew
	name = strings.TrimSpace(name)
	if err := CheckAppPasswordName(name); err != nil {
		return "", err
	}
	pw := newAppPassword()
	norm, _ := normalizeAppPassword(pw)
	email = strings.ToLower(email)
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		id, err := tx.accountID(ctx, email)
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, "INSERT INTO app_passwords(account_id, name, pwhash, created) VALUES(?, ?, ?, ?)", id, name, hashAppPassword(norm), now())
		if isUnique(err) {
			return fmt.Errorf("app password %q of %s: %w", name, email, ErrExists)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	return pw, nil
}

// AppPasswords lists an account's app passwords by name.
func (s *Store) AppPasswords(ctx context.Context, email string) ([]AppPassword, error) {
	a, err := s.AccountByEmail(ctx, email)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", email, err)
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT name, created, last_used, last_proto, last_addr FROM app_passwords WHERE account_id = ? ORDER BY name", a.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AppPassword{}
	for rows.Next() {
		var p AppPassword
		var c, u int64
		if err := rows.Scan(&p.Name, &c, &u, &p.LastUsed.Protocol, &p.LastUsed.Addr); err != nil {
			return nil, err
		}
		p.Created = time.Unix(c, 0)
		if u != 0 {
			p.LastUsed.At = time.Unix(u, 0)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// RevokeAppPassword deletes one app password; the others keep working.
func (s *Store) RevokeAppPassword(ctx context.Context, email, name string) error {
	defer s.auth.forget() // authcache.go: logins with the old secret are verified anew
	email = strings.ToLower(email)
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.execOne(ctx, fmt.Sprintf("app password %q of %s", name, email),
			"DELETE FROM app_passwords WHERE name = ? AND account_id = (SELECT id FROM accounts WHERE email = ?)", strings.TrimSpace(name), email)
	})
}

// RevokeAppPasswords deletes all of an account's app passwords ('sign
// out everywhere') and returns how many there were.
func (s *Store) RevokeAppPasswords(ctx context.Context, email string) (int, error) {
	defer s.auth.forget() // authcache.go: logins with the old secret are verified anew
	email = strings.ToLower(email)
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		id, err := tx.accountID(ctx, email)
		if err != nil {
			return err
		}
		res, err := tx.exec(ctx, "DELETE FROM app_passwords WHERE account_id = ?", id)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return int(n), err
}

// SessionStamp returns what a web session checks on every request: a
// short digest of the account's password hash, which changes whenever
// the password is set (on the web, by 'boxmail user passwd' in another
// process, even to the same password: the salt is new), and whether the
// account is disabled. A session made under another stamp has ended.
func (s *Store) SessionStamp(ctx context.Context, accountID int64) (stamp string, disabled bool, err error) {
	var h string
	err = s.rdb.QueryRowContext(ctx, "SELECT pwhash, disabled FROM accounts WHERE id = ?", accountID).Scan(&h, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, fmt.Errorf("account %d: %w", accountID, ErrNotFound)
	} else if err != nil {
		return "", false, err
	}
	sum := sha256.Sum256([]byte("boxmail web session\x00" + h))
	return hex.EncodeToString(sum[:12]), disabled, nil
}

// dummyCostCap bounds the cost dummyCost follows stored hashes up to.
const dummyCostCap = 16

// dummyCost is the bcrypt cost of the dummy hash (admin.go: dummyHash)
// that logins without a usable hash are compared with: the store's
// password cost, or the highest cost among the stored account hashes when
// some are costlier (kept from an earlier, higher PasswordCost, or
// imported), up to dummyCostCap, so a refusal for an unknown account is
// never quicker than one for a real account. It is asked once, when the
// dummy hash is made.
func (s *Store) dummyCost() int {
	cost := s.pwCost
	rows, err := s.rdb.QueryContext(context.Background(), "SELECT min(pwhash) FROM accounts GROUP BY substr(pwhash, 1, 7)")
	if err != nil {
		s.log.Warn("reading the costs of the password hashes", "err", err)
		return cost
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			s.log.Warn("reading the costs of the password hashes", "err", err)
			return cost
		}
		if c, err := bcrypt.Cost([]byte(h)); err == nil && c > cost {
			cost = min(c, max(dummyCostCap, s.pwCost))
		}
	}
	if err := rows.Err(); err != nil {
		s.log.Warn("reading the costs of the password hashes", "err", err)
	}
	return cost
}
