package dnsd

// The DNSSEC keys of the zones (RFC 4033-4035), one JSON document per
// zone:
//
//	{"keys": [{role, state, since, dnskey, private}, ...], ...}
//
// where dnskey is the public key as a zone-file DNSKEY record and
// private the key in BIND's Private-key-format (so dnssec-signzone or
// ldns can read it). They live in the store (Options.Keys, KeyStore:
// the dnssec_keys table), so every node of a box on PostgreSQL signs
// with the same keys and publishes the same DNSKEY and DS (issue 23).
// A box of an earlier version kept them in files, DATADIR/dnssec/ZONE.json
// (0600); a zone the store has no keys for imports its file once
// (ReadKeys), so the DS at the registrar stays right.
//
// Each zone has one KSK (flags 257, signs the DNSKEY RRset; its DS goes
// to the registrar) and one active ZSK (flags 256, signs everything
// else), both ECDSA P-256 with SHA-256 (algorithm 13, RFC 6605): small
// signatures, so signed answers mostly fit in 1232 bytes.
//
// ZSK rollover is automatic and pre-published (RFC 6781 4.1.1.1):
//
//	active ZSK older than zskLifetime -> a new ZSK is "published" (in
//	    the DNSKEY RRset, signing nothing)
//	published for publishWait         -> it becomes "active", the old
//	    one "retired" (still published, signing nothing)
//	retired for retireWait            -> the old one is removed
//
// publishWait outlasts the DNSKEY RRset's TTL, so every resolver holds
// the new key before a signature made with it can reach it; retireWait
// outlasts the longest TTL of a signed RRset, so no cached signature of
// the old key outlives the key in the DNSKEY RRset (TestZSKRollover).
// The KSK is not rolled automatically: its DS is at the registrar, which
// the box cannot change. An admin starts its rollover (kskroll.go), the
// incoming KSK is "published" (in the DNSKEY RRset and signing it) until
// the parent has its DS.
//
// Several nodes: each step (the first keys, a rollover step, a request)
// is written over the version read (KeyStore), so when two nodes take
// the same step at once one writes and the other reads the result:
// never two KSKs for a zone.

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Key roles and states as written in the keys' JSON.
const (
	roleKSK = "ksk"
	roleZSK = "zsk"

	statePublished = "published" // in the DNSKEY RRset, signs nothing yet
	stateActive    = "active"    // signs
	stateRetired   = "retired"   // still in the DNSKEY RRset, signs nothing
)

// The rollover timing. keyTTL is the DNSKEY RRset's TTL; the waits are
// twice the longest TTL the zone serves (dnsrecords.DefaultTTL).
const (
	keyTTL      = 3600
	zskLifetime = 90 * 24 * time.Hour
	publishWait = 2 * keyTTL * time.Second
	retireWait  = 2 * keyTTL * time.Second
)

// Key is one DNSSEC key of a zone.
type Key struct {
	Role    string    `json:"role"`
	State   string    `json:"state"`
	Since   time.Time `json:"since"` // when it entered State
	DNSKEY  string    `json:"dnskey"`
	Private string    `json:"private"`

	pub  *dns.DNSKEY
	priv crypto.Signer
}

// ZoneKeys are the keys of one zone.
type ZoneKeys struct {
	Zone string `json:"-"` // fqdn, lower case
	Keys []*Key `json:"keys"`
	// During a KSK rollover (kskroll.go): when the parent was first seen
	// with the new DS, and that DS RRset's TTL in seconds.
	ParentSeen time.Time `json:"parent_seen,omitzero"`
	ParentTTL  uint32    `json:"parent_ttl,omitempty"`
	// Turning DNSSEC off (unsign.go): the step ("", "deleting", "off"),
	// since when, and when the parent was first seen without a DS.
	Signing      string    `json:"signing,omitempty"`
	SigningSince time.Time `json:"signing_since,omitzero"`
	ParentGone   time.Time `json:"parent_gone,omitzero"`

	version int64 // in the KeyStore: PutZoneKeys writes over it only
}

// KeyStore keeps the zones' keys where every node of the box sees them
// (store.Store: the dnssec_keys table). A zone's keys are a JSON
// document with a version: PutZoneKeys writes only over the version
// read (0: none yet) and reports false when another process wrote
// first, so generation and rollover steps happen once whichever node
// gets there first. A write must make Options.Generation grow, so that
// every server re-signs with the new keys at its next poll.
type KeyStore interface {
	ZoneKeys(ctx context.Context, zone string) (keys []byte, version int64, err error)
	PutZoneKeys(ctx context.Context, zone string, keys []byte, version int64) (bool, error)
}

// ErrKeyConflict means the keys changed under a write (another node or
// command wrote first): read them again.
var ErrKeyConflict = errors.New("the DNSSEC keys were changed by another process")

// keyPath is the file of a zone's keys in a key directory of an earlier
// version (imported once, importFile).
func keyPath(dir, zone string) string {
	return filepath.Join(dir, strings.TrimSuffix(strings.ToLower(zone), ".")+".json")
}

// ReadKeys reads the keys of zone from ks; a zone without keys gives an
// error that matches os.ErrNotExist. When ks has none and legacyDir (the
// key directory of an earlier version: DATADIR/dnssec) has the zone's
// key file, the file is imported first, so a box upgraded in place keeps
// its keys and its DS at the registrar.
func ReadKeys(ctx context.Context, ks KeyStore, legacyDir, zone string) (*ZoneKeys, error) {
	zone = dns.Fqdn(strings.ToLower(zone))
	data, version, err := ks.ZoneKeys(ctx, zone)
	if err != nil {
		return nil, err
	}
	if data == nil {
		if data, version, err = importFile(ctx, ks, legacyDir, zone); err != nil {
			return nil, err
		}
	}
	zk, err := parseKeys(zone, data)
	if err != nil {
		return nil, err
	}
	zk.version = version
	return zk, nil
}

// importFile copies zone's key file of legacyDir into ks unless ks has
// keys for it already (another node imported or made them first), and
// returns what ks then holds. The file stays (an older binary can still
// read it) but is never read again. No file: an error matching
// os.ErrNotExist.
func importFile(ctx context.Context, ks KeyStore, legacyDir, zone string) ([]byte, int64, error) {
	if legacyDir == "" {
		return nil, 0, fmt.Errorf("DNSSEC keys of %s: %w", zone, os.ErrNotExist)
	}
	data, err := os.ReadFile(keyPath(legacyDir, zone))
	if err != nil {
		return nil, 0, fmt.Errorf("DNSSEC keys of %s: %w", zone, err)
	}
	if _, err := parseKeys(zone, data); err != nil {
		return nil, 0, fmt.Errorf("importing %s: %w", keyPath(legacyDir, zone), err)
	}
	if _, err := ks.PutZoneKeys(ctx, zone, data, 0); err != nil {
		return nil, 0, err
	}
	data, version, err := ks.ZoneKeys(ctx, zone)
	if err == nil && data == nil {
		err = fmt.Errorf("DNSSEC keys of %s: gone right after their import", zone)
	}
	return data, version, err
}

// parseKeys reads a zone's keys from their JSON.
func parseKeys(zone string, data []byte) (*ZoneKeys, error) {
	zk := &ZoneKeys{Zone: zone}
	if err := json.Unmarshal(data, zk); err != nil {
		return nil, fmt.Errorf("DNSSEC keys of %s: %w", zone, err)
	}
	for _, k := range zk.Keys {
		if err := k.parse(); err != nil {
			return nil, fmt.Errorf("DNSSEC keys of %s: %w", zone, err)
		}
	}
	if zk.KSK() == nil || zk.ZSK() == nil {
		return nil, fmt.Errorf("DNSSEC keys of %s: no active KSK and ZSK", zone)
	}
	return zk, nil
}

func (k *Key) parse() error {
	rr, err := dns.NewRR(k.DNSKEY)
	if err != nil {
		return err
	}
	pub, ok := rr.(*dns.DNSKEY)
	if !ok {
		return fmt.Errorf("%q is not a DNSKEY", k.DNSKEY)
	}
	priv, err := pub.NewPrivateKey(k.Private)
	if err != nil {
		return err
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return errors.New("private key cannot sign")
	}
	k.pub, k.priv = pub, signer
	return nil
}

// newKey generates a key of role for zone.
func newKey(zone, role string, now time.Time) (*Key, error) {
	pub := &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: keyTTL},
		Flags: dns.ZONE, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	if role == roleKSK {
		pub.Flags |= dns.SEP
	}
	priv, err := pub.Generate(256)
	// A key whose tag is 0 cannot sign (miekg/dns refuses an RRSIG with
	// key tag 0): one key in 65,536; draw again.
	for err == nil && pub.KeyTag() == 0 {
		priv, err = pub.Generate(256)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, errors.New("generated key cannot sign")
	}
	state := stateActive
	return &Key{Role: role, State: state, Since: now.UTC(), DNSKEY: pub.String(), Private: pub.PrivateKeyString(priv), pub: pub, priv: signer}, nil
}

// loadOrCreateKeys reads zone's keys, generating and storing a KSK and
// a ZSK when the zone has none yet. Two nodes doing it at once both
// generate, one stores: the other reads and uses the stored keys.
func loadOrCreateKeys(ctx context.Context, ks KeyStore, legacyDir, zone string, now time.Time) (*ZoneKeys, error) {
	zk, err := ReadKeys(ctx, ks, legacyDir, zone)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return zk, err
	}
	zk = &ZoneKeys{Zone: dns.Fqdn(strings.ToLower(zone))}
	for _, role := range []string{roleKSK, roleZSK} {
		k, err := newKey(zk.Zone, role, now)
		if err != nil {
			return nil, err
		}
		zk.Keys = append(zk.Keys, k)
	}
	switch err := zk.save(ctx, ks); {
	case errors.Is(err, ErrKeyConflict):
		return ReadKeys(ctx, ks, "", zone)
	case err != nil:
		return nil, err
	}
	return zk, nil
}

// save writes the keys over the version they were read at (ErrKeyConflict
// when another process wrote first) and moves zk to the new version.
func (zk *ZoneKeys) save(ctx context.Context, ks KeyStore) error {
	data, err := json.MarshalIndent(zk, "", "  ")
	if err != nil {
		return err
	}
	ok, err := ks.PutZoneKeys(ctx, zk.Zone, append(data, '\n'), zk.version)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("DNSSEC keys of %s: %w", zk.Zone, ErrKeyConflict)
	}
	zk.version++
	return nil
}

// KSK returns the zone's active key-signing key.
func (zk *ZoneKeys) KSK() *Key { return zk.find(roleKSK, stateActive) }

// ZSK returns the zone's active zone-signing key.
func (zk *ZoneKeys) ZSK() *Key { return zk.find(roleZSK, stateActive) }

func (zk *ZoneKeys) find(role, state string) *Key {
	for _, k := range zk.Keys {
		if k.Role == role && k.State == state {
			return k
		}
	}
	return nil
}

// DNSKEYs returns the DNSKEY RRset: every key the file holds.
func (zk *ZoneKeys) DNSKEYs() []dns.RR {
	out := make([]dns.RR, 0, len(zk.Keys))
	for _, k := range zk.Keys {
		c := *k.pub
		out = append(out, &c)
	}
	return out
}

// DS returns the DS record the registrar should publish in the parent
// zone (SHA-256 digest, RFC 4509): the active KSK's, or during a KSK
// rollover the incoming one's (the same as the CDS).
func (zk *ZoneKeys) DS() []*dns.DS {
	return []*dns.DS{DSOf(zk.parentKSK())}
}

// Public returns the key's DNSKEY record.
func (k *Key) Public() *dns.DNSKEY { return k.pub }

// advance moves the ZSK rollover on to now; it tells whether the keys
// changed (and must be written).
func (zk *ZoneKeys) advance(now time.Time) (bool, error) {
	changed := false
	active, next := zk.ZSK(), zk.find(roleZSK, statePublished)
	switch {
	case active != nil && next == nil && now.Sub(active.Since) >= zskLifetime && zk.find(roleZSK, stateRetired) == nil:
		k, err := newKey(zk.Zone, roleZSK, now)
		if err != nil {
			return false, err
		}
		k.State = statePublished
		zk.Keys = append(zk.Keys, k)
		changed = true
	case next != nil && now.Sub(next.Since) >= publishWait:
		if active != nil {
			active.State, active.Since = stateRetired, now.UTC()
		}
		next.State, next.Since = stateActive, now.UTC()
		changed = true
	}
	kept := zk.Keys[:0]
	for _, k := range zk.Keys {
		if k.State == stateRetired && now.Sub(k.Since) >= retireWait {
			changed = true
			continue
		}
		kept = append(kept, k)
	}
	zk.Keys = kept
	return changed, nil
}
