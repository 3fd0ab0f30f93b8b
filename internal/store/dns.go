package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DKIMKey is a domain's DKIM signing key under a selector.
type DKIMKey struct {
	Domain    string
	Selector  string
	Algorithm string // "rsa" or "ed25519"
	Private   string // PKCS#8 PEM
	Active    bool   // used for signing
	Created   time.Time
}

// AddDKIMKey stores a key for a hosted domain.
func (s *Store) AddDKIMKey(ctx context.Context, k DKIMKey) error {
	domain := strings.ToLower(k.Domain)
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var did int64
		if err := tx.queryRow(ctx, "SELECT id FROM domains WHERE name = ?", domain).Scan(&did); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("domain %s: %w", domain, ErrNotFound)
		} else if err != nil {
			return err
		}
		_, err := tx.exec(ctx, "INSERT INTO dkim_keys(domain_id, selector, algorithm, private, active, created) VALUES(?, ?, ?, ?, ?, ?)",
			did, k.Selector, k.Algorithm, k.Private, k.Active, now())
		if isUnique(err) {
			return fmt.Errorf("DKIM selector %s of %s: %w", k.Selector, domain, ErrExists)
		}
		return err
	})
}

// DKIMKeys returns a domain's keys (all domains' when domain is ""),
// oldest first.
func (s *Store) DKIMKeys(ctx context.Context, domain string) ([]DKIMKey, error) {
	return queryAll(ctx, s.rdb, func(rows *sql.Rows) (DKIMKey, error) {
		var k DKIMKey
		var c int64
		err := rows.Scan(&k.Domain, &k.Selector, &k.Algorithm, &k.Private, &k.Active, &c)
		k.Created = time.Unix(c, 0)
		return k, err
	}, `SELECT d.name, k.selector, k.algorithm, k.private, k.active, k.created
		FROM dkim_keys k JOIN domains d ON k.domain_id = d.id WHERE ? = '' OR d.name = ? ORDER BY d.name, k.id`, strings.ToLower(domain), strings.ToLower(domain))
}

// ActivateDKIMKey makes the selector's key the one used for signing with
// its algorithm; other keys of that algorithm stop signing (but stay, so
// their DNS records can be kept until old signatures no longer matter).
func (s *Store) ActivateDKIMKey(ctx context.Context, domain, selector string) error {
	domain = strings.ToLower(domain)
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var id, did int64
		var algo string
		err := tx.queryRow(ctx, `SELECT k.id, k.domain_id, k.algorithm FROM dkim_keys k JOIN domains d ON k.domain_id = d.id WHERE d.name = ? AND k.selector = ?`,
			domain, selector).Scan(&id, &did, &algo)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("DKIM selector %s of %s: %w", selector, domain, ErrNotFound)
		} else if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "UPDATE dkim_keys SET active = CASE WHEN id = ? THEN 1 ELSE 0 END WHERE domain_id = ? AND algorithm = ?", id, did, algo); err != nil {
			return err
		}
		return nil
	})
}

// RemoveDKIMKey deletes a key.
func (s *Store) RemoveDKIMKey(ctx context.Context, domain, selector string) error {
	domain = strings.ToLower(domain)
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.execOne(ctx, fmt.Sprintf("DKIM selector %s of %s", selector, domain),
			"DELETE FROM dkim_keys WHERE selector = ? AND domain_id = (SELECT id FROM domains WHERE name = ?)", selector, domain)
	})
}

// DNSRecord is a custom DNS record the admin added.
type DNSRecord struct {
	Name  string // fully qualified, lower-case, no trailing dot
	Type  string // "TXT", "A", ...
	Value string // RDATA in zone-file syntax
}

// AddDNSRecord stores a custom record. The caller validates it.
func (s *Store) AddDNSRecord(ctx context.Context, r DNSRecord) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "INSERT INTO dns_records(name, type, value, created) VALUES(?, ?, ?, ?)", strings.ToLower(r.Name), strings.ToUpper(r.Type), r.Value, now())
		if isUnique(err) {
			return fmt.Errorf("record %s %s %s: %w", r.Name, r.Type, r.Value, ErrExists)
		}
		return err
	})
}

// RemoveDNSRecords deletes custom records of name and type, only the one
// with value when value is not "". It returns how many were removed.
func (s *Store) RemoveDNSRecords(ctx context.Context, name, typ, value string) (int, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.exec(ctx, "DELETE FROM dns_records WHERE name = ? AND type = ? AND (? = '' OR value = ?)", strings.ToLower(name), strings.ToUpper(typ), value, value)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		if n == 0 {
			return fmt.Errorf("record %s %s: %w", name, typ, ErrNotFound)
		}
		return nil
	})
	return int(n), err
}

// DNSRecords lists custom records by name and type.
func (s *Store) DNSRecords(ctx context.Context) ([]DNSRecord, error) {
	return queryAll(ctx, s.rdb, func(rows *sql.Rows) (DNSRecord, error) {
		var r DNSRecord
		err := rows.Scan(&r.Name, &r.Type, &r.Value)
		return r, err
	}, "SELECT name, type, value FROM dns_records ORDER BY name, type, id")
}

// Generation returns a number that grows whenever domains, accounts,
// aliases, DKIM keys or custom DNS records change, by this process or
// another one (triggers bump it in the same transaction). Servers that
// derive state from those (the DNS server's zone serial) poll it.
func (s *Store) Generation(ctx context.Context) (int64, error) {
	var n int64
	err := s.rdb.QueryRowContext(ctx, "SELECT n FROM generation WHERE id = 1").Scan(&n)
	return n, err
}
