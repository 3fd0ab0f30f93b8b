package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// Migration 33 (issue 23): state every node of a box must share, which
// used to live in files of one node's data dir.
//
//   - dnssec_keys: each zone's DNSSEC keys, as dnsd writes them (its
//     JSON; dnsd keys.go says what it holds), with a version that each
//     write bumps: a write names the version it read and fails if
//     another node wrote first (PutZoneKeys), so two nodes never make
//     two KSKs for one zone or step a rollover twice. A change bumps the
//     generation, so every node's DNS server re-signs with the new keys
//     at its next poll.
//   - cert_files: the certificate manager's storage (internal/certs:
//     certmagic's files, the self-signed and uploaded pairs and the
//     staged key), by name, so every node serves the same certificate
//     and one node orders it (certfiles.go). Its locks are leases.
//   - acme_challenges: the DNS-01 records of an order in progress, which
//     every node's DNS server serves (the CA may ask any of them); a
//     change bumps the generation.
//
// Each form is a self-contained constant, so renumbering at a merge is a
// one-line move in schema.go and pgschema.go.

// sharedStateSchema is migration 33's SQLite form.
const sharedStateSchema = `
CREATE TABLE IF NOT EXISTS dnssec_keys ( -- IF NOT EXISTS: tests that roll the version back keep it
	zone    TEXT PRIMARY KEY,  -- the apex, lower case, with its trailing dot
	keys    TEXT NOT NULL,     -- dnsd's JSON of the zone's keys and DNSSEC state
	version INTEGER NOT NULL,  -- 1 at the first write, +1 at each
	updated INTEGER NOT NULL   -- unix seconds
);
CREATE TRIGGER IF NOT EXISTS gen_dnssec_keys_insert AFTER INSERT ON dnssec_keys BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS gen_dnssec_keys_update AFTER UPDATE ON dnssec_keys BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS gen_dnssec_keys_delete AFTER DELETE ON dnssec_keys BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TABLE IF NOT EXISTS cert_files (
	name     TEXT PRIMARY KEY, -- a path-like key ("certificates/CA/NAME/NAME.crt", "tls/box.key", ...)
	value    BLOB NOT NULL,
	modified INTEGER NOT NULL  -- unix milliseconds
);
CREATE TABLE IF NOT EXISTS acme_challenges (
	name  TEXT NOT NULL,    -- "_acme-challenge." + the name, lower case, with its trailing dot
	value TEXT NOT NULL,    -- the TXT value
	until INTEGER NOT NULL, -- unix seconds: served until then at most (a node that died mid-order)
	PRIMARY KEY (name, value)
);
CREATE TRIGGER IF NOT EXISTS gen_acme_challenges_insert AFTER INSERT ON acme_challenges BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS gen_acme_challenges_delete AFTER DELETE ON acme_challenges BEGIN UPDATE generation SET n = n + 1 WHERE id = 1; END;
`

// pgSharedStateSchema is migration 33's PostgreSQL form.
const pgSharedStateSchema = `
CREATE TABLE dnssec_keys (
	zone    TEXT PRIMARY KEY,
	keys    TEXT NOT NULL,
	version BIGINT NOT NULL,
	updated BIGINT NOT NULL
);
CREATE TRIGGER gen_dnssec_keys AFTER INSERT OR UPDATE OR DELETE ON dnssec_keys FOR EACH STATEMENT EXECUTE FUNCTION generation_bump();
CREATE TABLE cert_files (
	name     TEXT PRIMARY KEY,
	value    BYTEA NOT NULL,
	modified BIGINT NOT NULL
);
CREATE TABLE acme_challenges (
	name  TEXT NOT NULL,
	value TEXT NOT NULL,
	until BIGINT NOT NULL,
	PRIMARY KEY (name, value)
);
CREATE TRIGGER gen_acme_challenges AFTER INSERT OR UPDATE OR DELETE ON acme_challenges FOR EACH STATEMENT EXECUTE FUNCTION generation_bump();
`

// zoneKey is how a zone is named in dnssec_keys.
func zoneKey(zone string) string {
	return strings.ToLower(strings.TrimSuffix(zone, ".")) + "."
}

// ZoneKeys returns the DNSSEC keys of zone as dnsd wrote them and their
// version; nil and 0 when the zone has none yet.
func (s *Store) ZoneKeys(ctx context.Context, zone string) (keys []byte, version int64, err error) {
	var text string
	err = s.rdb.QueryRowContext(ctx, "SELECT keys, version FROM dnssec_keys WHERE zone = ?", zoneKey(zone)).Scan(&text, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return []byte(text), version, nil
}

// PutZoneKeys writes the DNSSEC keys of zone if they are still at
// version (0: the zone has none yet), and reports whether it wrote them
// (false: another process wrote first; read them again). The keys are
// then at version+1.
func (s *Store) PutZoneKeys(ctx context.Context, zone string, keys []byte, version int64) (bool, error) {
	var wrote bool
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var res sql.Result
		var err error
		if version == 0 {
			res, err = tx.exec(ctx, "INSERT INTO dnssec_keys(zone, keys, version, updated) VALUES(?, ?, 1, ?) ON CONFLICT(zone) DO NOTHING",
				zoneKey(zone), string(keys), time.Now().Unix())
		} else {
			res, err = tx.exec(ctx, "UPDATE dnssec_keys SET keys = ?, version = version + 1, updated = ? WHERE zone = ? AND version = ?",
				string(keys), time.Now().Unix(), zoneKey(zone), version)
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		wrote = n == 1
		return err
	})
	return wrote && err == nil, err
}

// DeleteZoneKeys forgets the DNSSEC keys of zone: the DNS server makes
// new ones (a new DS for the registrar) when it next loads the zone.
func (s *Store) DeleteZoneKeys(ctx context.Context, zone string) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.execOne(ctx, "DNSSEC keys of "+zone, "DELETE FROM dnssec_keys WHERE zone = ?", zoneKey(zone))
	})
}
