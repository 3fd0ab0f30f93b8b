package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Domain is a mail domain the box receives mail for.
type Domain struct {
	ID      int64
	Name    string
	Created time.Time
}

// Account is a user with mailboxes and a password.
type Account struct {
	ID      int64
	Email   string
	Admin   bool
	Created time.Time
}

// Alias routes an address (or "@domain", a catch-all) to targets, and
// names the accounts permitted to send as it.
type Alias struct {
	Address string
	Targets []string
	Permit  []string
}

// DefaultMailbox is a mailbox every new account gets, with its RFC 6154
// special-use attribute ("" for INBOX).
type DefaultMailbox struct{ Name, SpecialUse string }

// DefaultMailboxes returns the mailboxes created for every new account
// (a fresh slice: callers cannot change what accounts get).
func DefaultMailboxes() []DefaultMailbox {
	return []DefaultMailbox{
		{"INBOX", ""},
		{"Sent", `\Sent`},
		{"Drafts", `\Drafts`},
		{"Trash", `\Trash`},
		{"Junk", `\Junk`},
		{"Archive", `\Archive`},
	}
}

func domainOf(email string) string {
	i := strings.LastIndexByte(email, '@')
	if i < 0 {
		return ""
	}
	return email[i+1:]
}

func isUnique(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint failed") || pgUnique(err))
}

// AddDomain adds a hosted domain, with its DKIM keys in the same
// transaction. Names are stored lower-case.
func (s *Store) AddDomain(ctx context.Context, name string, keys ...DKIMKey) error {
	name = strings.ToLower(name)
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		did, err := tx.insertID(ctx, "INSERT INTO domains(name, created) VALUES(?, ?)", name, now())
		if isUnique(err) {
			return fmt.Errorf("domain %s: %w", name, ErrExists)
		} else if err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := tx.exec(ctx, "INSERT INTO dkim_keys(domain_id, selector, algorithm, private, active, created) VALUES(?, ?, ?, ?, ?, ?)",
				did, k.Selector, k.Algorithm, k.Private, k.Active, now()); err != nil {
				return err
			}
		}
		return nil
	})
}

// RemoveDomain removes a domain that has no accounts and no aliases left.
func (s *Store) RemoveDomain(ctx context.Context, name string) error {
	defer s.auth.forget() // authcache.go: logins with the old secret are verified anew
	name = strings.ToLower(name)
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var id int64
		if err := tx.queryRow(ctx, "SELECT id FROM domains WHERE name = ?", name).Scan(&id); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("domain %s: %w", name, ErrNotFound)
		} else if err != nil {
			return err
		}
		var n int
		if err := tx.queryRow(ctx, "SELECT (SELECT count(*) FROM accounts WHERE domain_id = ?) + (SELECT count(*) FROM aliases WHERE domain_id = ?)", id, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("domain %s: %w (%d left; remove them first)", name, ErrDomainNotEmpty, n)
		}
		_, err := tx.exec(ctx, "DELETE FROM domains WHERE id = ?", id)
		return err
	})
}

// Domains lists hosted domains by name.
func (s *Store) Domains(ctx context.Context) ([]Domain, error) {
	return queryAll(ctx, s.rdb, func(rows *sql.Rows) (Domain, error) {
		var d Domain
		var c int64
		err := rows.Scan(&d.ID, &d.Name, &c)
		d.Created = time.Unix(c, 0)
		return d, err
	}, "SELECT id, name, created FROM domains ORDER BY name")
}

// IsLocalDomain reports whether name is a hosted domain.
func (s *Store) IsLocalDomain(ctx context.Context, name string) (bool, error) {
	var one int
	err := s.rdb.QueryRowContext(ctx, "SELECT 1 FROM domains WHERE name = ?", strings.ToLower(name)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// hashPassword returns the stored form of a password, at the store's
// password cost (Options.PasswordCost).
func (s *Store) hashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), s.pwCost)
	return string(h), err
}

// AddAccount creates an account with its default mailboxes. The domain
// must exist. email must already be validated and lower-cased by the
// caller's address parser.
func (s *Store) AddAccount(ctx context.Context, email, password string, admin bool) (Account, error) {
	email = strings.ToLower(email)
	h, err := s.hashPassword(password)
	if err != nil {
		return Account{}, err
	}
	var a Account
	err = s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var did int64
		if err := tx.queryRow(ctx, "SELECT id FROM domains WHERE name = ?", domainOf(email)).Scan(&did); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("domain %s: %w", domainOf(email), ErrNotFound)
		} else if err != nil {
			return err
		}
		var one int
		if err := tx.queryRow(ctx, "SELECT 1 FROM aliases WHERE address = ?", email).Scan(&one); err == nil {
			return fmt.Errorf("%s is an alias: %w", email, ErrExists)
		}
		ts := now()
		id, err := tx.insertID(ctx, "INSERT INTO accounts(email, domain_id, pwhash, admin, created) VALUES(?, ?, ?, ?, ?)", email, did, h, admin, ts)
		if isUnique(err) {
			return fmt.Errorf("account %s: %w", email, ErrExists)
		} else if err != nil {
			return err
		}
		for _, mb := range DefaultMailboxes() {
			if _, err := createMailbox(ctx, tx, id, mb.Name, mb.SpecialUse); err != nil {
				return err
			}
		}
		a = Account{ID: id, Email: email, Admin: admin, Created: time.Unix(ts, 0)}
		return nil
	})
	return a, err
}

// SetPassword replaces an account's password.
func (s *Store) SetPassword(ctx context.Context, email, password string) error {
	defer s.auth.forget() // authcache.go: logins with the old secret are verified anew
	h, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	return s.updateAccount(ctx, email, "UPDATE accounts SET pwhash = ? WHERE email = ?", h)
}

// SetAdmin turns an account's admin right on or off.
func (s *Store) SetAdmin(ctx context.Context, email string, admin bool) error {
	return s.updateAccount(ctx, email, "UPDATE accounts SET admin = ? WHERE email = ?", admin)
}

func (s *Store) updateAccount(ctx context.Context, email, q string, v any) error {
	email = strings.ToLower(email)
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.execOne(ctx, "account "+email, q, v, email)
	})
}

// accountID is the id of the account with this (lower-case) address.
func (tx *Tx) accountID(ctx context.Context, email string) (int64, error) {
	var id int64
	err := tx.queryRow(ctx, "SELECT id FROM accounts WHERE email = ?", email).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("account %s: %w", email, ErrNotFound)
	}
	return id, err
}

// RemoveAccount deletes an account with all its mailboxes and messages.
func (s *Store) RemoveAccount(ctx context.Context, email string) error {
	defer s.auth.forget()   // authcache.go: logins with the old secret are verified anew
	defer s.logins.forget() // auth.go: a new account may get the ID back
	email = strings.ToLower(email)
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		id, err := tx.accountID(ctx, email)
		if err != nil {
			return err
		}
		// Explicit deletes so the body reference triggers fire.
		if _, err := tx.exec(ctx, "DELETE FROM messages WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = ?)", id); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "DELETE FROM mailboxes WHERE account_id = ?", id); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "DELETE FROM accounts WHERE id = ?", id); err != nil {
			return err
		}
		tx.emit(Event{Kind: EventAccountRemoved, AccountID: id})
		return nil
	})
}

// Accounts lists all accounts by email.
func (s *Store) Accounts(ctx context.Context) ([]Account, error) {
	return queryAll(ctx, s.rdb, func(rows *sql.Rows) (Account, error) {
		var a Account
		var c int64
		err := rows.Scan(&a.ID, &a.Email, &a.Admin, &c)
		a.Created = time.Unix(c, 0)
		return a, err
	}, "SELECT id, email, admin, created FROM accounts ORDER BY email")
}

// AccountByEmail returns the account with that exact (lower-cased) email.
func (s *Store) AccountByEmail(ctx context.Context, email string) (Account, error) {
	var a Account
	var c int64
	err := s.rdb.QueryRowContext(ctx, "SELECT id, email, admin, created FROM accounts WHERE email = ?", strings.ToLower(email)).Scan(&a.ID, &a.Email, &a.Admin, &c)
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	a.Created = time.Unix(c, 0)
	return a, err
}

// FirstAdmin returns the domain's first-created admin account that is not
// disabled, falling back to any such admin of the box.
func (s *Store) FirstAdmin(ctx context.Context, domain string) (Account, error) {
	var a Account
	var c int64
	err := s.rdb.QueryRowContext(ctx, `SELECT a.id, a.email, a.admin, a.created FROM accounts a JOIN domains d ON a.domain_id = d.id
		WHERE a.admin != 0 AND a.disabled = 0 AND d.name = ? ORDER BY a.id LIMIT 1`, strings.ToLower(domain)).Scan(&a.ID, &a.Email, &a.Admin, &c)
	if errors.Is(err, sql.ErrNoRows) {
		err = s.rdb.QueryRowContext(ctx, "SELECT id, email, admin, created FROM accounts WHERE admin != 0 AND disabled = 0 ORDER BY id LIMIT 1").Scan(&a.ID, &a.Email, &a.Admin, &c)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	a.Created = time.Unix(c, 0)
	return a, err
}

// dummyHash returns the hash a refused login with no usable hash of its
// own (no such account, a disabled one, a stored hash bcrypt cannot read)
// is compared with, so that every refusal costs one bcrypt at the store's
// password cost, as a wrong password for a real account does: the time
// taken does not tell which accounts exist. It is made on first use.
func (s *Store) dummyHash() []byte {
	s.dummy.once.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte("boxmail-dummy"), s.dummyCost())
		if err != nil { // Open checked the cost; bcrypt's own default then
			h, _ = bcrypt.GenerateFromPassword([]byte("boxmail-dummy"), bcrypt.DefaultCost)
		}
		s.dummy.hash = h
	})
	return s.dummy.hash
}

// compareHash is bcrypt's comparison; a test swaps it to count calls.
var compareHash = bcrypt.CompareHashAndPassword

// passwordMatches compares a password with a stored hash. Every call
// costs one bcrypt: a missing ("") or unreadable hash is compared with
// the dummy hash and never matches.
func (s *Store) passwordMatches(hash, password string) bool {
	h := []byte(hash)
	if _, err := bcrypt.Cost(h); err != nil {
		_ = compareHash(s.dummyHash(), []byte(password)) // for the time it takes: never a match
		return false
	}
	return compareHash(h, []byte(password)) == nil
}

// Authenticate checks an email and password and returns the account.
// Any failure is ErrAuthFailed (or an internal error).
func (s *Store) Authenticate(ctx context.Context, email, password string) (Account, error) {
	var a Account
	var h string
	var c int64
	// A disabled account (store/disable.go) is refused as an unknown one.
	err := s.rdb.QueryRowContext(ctx, "SELECT id, email, admin, created, pwhash FROM accounts WHERE email = ? AND disabled = 0", strings.ToLower(email)).Scan(&a.ID, &a.Email, &a.Admin, &c, &h)
	if errors.Is(err, sql.ErrNoRows) {
		s.passwordMatches("", password) // as long as a wrong password takes
		return Account{}, ErrAuthFailed
	} else if err != nil {
		return Account{}, err
	}
	if !s.verifyPassword(a.ID, h, password) { // authcache.go
		return Account{}, ErrAuthFailed
	}
	a.Created = time.Unix(c, 0)
	return a, nil
}

// AddAlias creates an alias. address is "local@domain" or "@domain"; its
// domain must be hosted. It must not collide with an account.
func (s *Store) AddAlias(ctx context.Context, al Alias) error {
	addr := strings.ToLower(al.Address)
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var did int64
		if err := tx.queryRow(ctx, "SELECT id FROM domains WHERE name = ?", domainOf(addr)).Scan(&did); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("domain %s: %w", domainOf(addr), ErrNotFound)
		} else if err != nil {
			return err
		}
		var one int
		if err := tx.queryRow(ctx, "SELECT 1 FROM accounts WHERE email = ?", addr).Scan(&one); err == nil {
			return fmt.Errorf("%s is an account: %w", addr, ErrExists)
		}
		for _, p := range al.Permit {
			if err := tx.queryRow(ctx, "SELECT 1 FROM accounts WHERE email = ?", strings.ToLower(p)).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("permitted sender %s is not an account: %w", p, ErrNotFound)
			} else if err != nil {
				return err
			}
		}
		_, err := tx.exec(ctx, "INSERT INTO aliases(address, domain_id, targets, permit, created) VALUES(?, ?, ?, ?, ?)",
			addr, did, joinLower(al.Targets), joinLower(al.Permit), now())
		if isUnique(err) {
			return fmt.Errorf("alias %s: %w", addr, ErrExists)
		}
		return err
	})
}

func joinLower(l []string) string {
	out := make([]string, 0, len(l))
	for _, s := range l {
		if s = strings.TrimSpace(strings.ToLower(s)); s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, ",")
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// RemoveAlias deletes an alias.
func (s *Store) RemoveAlias(ctx context.Context, address string) error {
	addr := strings.ToLower(address)
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.execOne(ctx, "alias "+addr, "DELETE FROM aliases WHERE address = ?", addr)
	})
}

// Aliases lists all aliases by address.
func (s *Store) Aliases(ctx context.Context) ([]Alias, error) {
	return queryAll(ctx, s.rdb, func(rows *sql.Rows) (Alias, error) {
		var a Alias
		var t, p string
		err := rows.Scan(&a.Address, &t, &p)
		a.Targets, a.Permit = splitList(t), splitList(p)
		return a, err
	}, "SELECT address, targets, permit FROM aliases ORDER BY address")
}

// AliasByAddress returns the alias for an exact address ("@domain" for a
// catch-all), or ErrNotFound.
func (s *Store) AliasByAddress(ctx context.Context, address string) (Alias, error) {
	var a Alias
	var t, p string
	err := s.rdb.QueryRowContext(ctx, "SELECT address, targets, permit FROM aliases WHERE address = ?", strings.ToLower(address)).Scan(&a.Address, &t, &p)
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	a.Targets, a.Permit = splitList(t), splitList(p)
	return a, err
}
