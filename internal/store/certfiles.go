package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// The certificate manager's files in the store (cert_files, migration
// 33: zonekeys.go), so that every node of a box serves the same
// certificates and one node orders each (internal/certs: certmagic's
// Storage). Names are path-like keys ("certificates/CA/NAME/NAME.crt");
// a name is a "directory" when others start with it and a slash.

// PutCertFile stores value under name, replacing what was there.
func (s *Store) PutCertFile(ctx context.Context, name string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO cert_files(name, value, modified) VALUES(?, ?, ?)
			ON CONFLICT(name) DO UPDATE SET value = excluded.value, modified = excluded.modified`, name, value, time.Now().UnixMilli())
		return err
	})
}

// CertFile returns the value stored under name and when it was stored;
// ok false when there is none.
func (s *Store) CertFile(ctx context.Context, name string) (value []byte, modified time.Time, ok bool, err error) {
	var ms int64
	err = s.rdb.QueryRowContext(ctx, "SELECT value, modified FROM cert_files WHERE name = ?", name).Scan(&value, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, err
	}
	if value == nil {
		value = []byte{}
	}
	return value, time.UnixMilli(ms), true, nil
}

// DeleteCertFiles removes name and every name under it (name + "/...");
// it returns how many went.
func (s *Store) DeleteCertFiles(ctx context.Context, name string) (int, error) {
	var n int64
	dir := strings.TrimSuffix(name, "/") + "/"
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.exec(ctx, "DELETE FROM cert_files WHERE name = ? OR substr(name, 1, ?) = ?", name, len(dir), dir)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// CertFileNames lists the names that start with prefix, sorted.
func (s *Store) CertFileNames(ctx context.Context, prefix string) ([]string, error) {
	return queryAll(ctx, s.rdb, func(rows *sql.Rows) (string, error) {
		var n string
		return n, rows.Scan(&n)
	}, "SELECT name FROM cert_files WHERE substr(name, 1, ?) = ? ORDER BY name", len(prefix), prefix)
}

// AddACMEChallenge serves the DNS-01 record name TXT value from every
// node's DNS server (acme_challenges) until RemoveACMEChallenge, or
// until at most.
func (s *Store) AddACMEChallenge(ctx context.Context, name, value string, until time.Time) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO acme_challenges(name, value, until) VALUES(?, ?, ?)
			ON CONFLICT(name, value) DO UPDATE SET until = excluded.until`, strings.ToLower(name), value, until.Unix())
		return err
	})
}

// RemoveACMEChallenge stops serving a record AddACMEChallenge added
// (and any whose time is over).
func (s *Store) RemoveACMEChallenge(ctx context.Context, name, value string) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, "DELETE FROM acme_challenges WHERE (name = ? AND value = ?) OR until < ?", strings.ToLower(name), value, time.Now().Unix())
		return err
	})
}

// ACMEChallenges returns the DNS-01 records to serve at now, values by
// name.
func (s *Store) ACMEChallenges(ctx context.Context, now time.Time) (map[string][]string, error) {
	type rec struct{ name, value string }
	recs, err := queryAll(ctx, s.rdb, func(rows *sql.Rows) (rec, error) {
		var r rec
		return r, rows.Scan(&r.name, &r.value)
	}, "SELECT name, value FROM acme_challenges WHERE until >= ? ORDER BY name, value", now.Unix())
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, r := range recs {
		out[r.name] = append(out[r.name], r.value)
	}
	return out, nil
}
