package dnsd

// KSK rollover with CDS and CDNSKEY (RFC 7344, RFC 8078), by double
// signature (RFC 6781 4.1.2):
//
//	start (Request: rollover-ksk) -> a new KSK is "published": in the
//	    DNSKEY RRset, which both KSKs sign, so a resolver holding the
//	    old DS or the new one validates; CDS and CDNSKEY name the new
//	    key only (what the parent should publish)
//	the parent has the new DS (Options.ParentDS) for its TTL, or
//	    Request: finish-ksk -> the old KSK is removed, the new one is
//	    "active"
//
// CDS and CDNSKEY are always published at the apex for the key the
// parent should have (the incoming KSK during a rollover, else the
// active one), so a parent that scans for them (RFC 7344 4, RFC 8078
// 3) keeps its DS right without the admin. They are signed by the ZSK
// and by the KSKs: RFC 7344 4.1 wants a key the parent's DS names.
//
// The CLI applies a request (Request: rollover-ksk, finish-ksk) to the
// keys in the store itself, over the version it read; every serving
// node signs with the result at its next poll (the write bumps the
// store's generation).
//
// The deletion signal (RFC 8078 4) and turning DNSSEC off are in
// unsign.go; they go through Request too.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// The requests the CLI writes for the server.
const (
	RequestKSKRollover = "rollover-ksk"
	RequestKSKFinish   = "finish-ksk"
)

// maxParentWait caps how long the old KSK stays after the parent first
// showed the new DS (the DS RRset's TTL, as the parent gives it).
const maxParentWait = 2 * 24 * time.Hour

// Request starts (RequestKSKRollover) or finishes (RequestKSKFinish) a
// KSK rollover of zone, or turns DNSSEC off or on (unsign.go), in ks
// (legacyDir: ReadKeys), checking it against the keys as they are now;
// it returns the keys it wrote. A request that meets a write of another
// process is checked and applied again on the keys that one wrote.
func Request(ctx context.Context, ks KeyStore, legacyDir, zone, what string, now time.Time) (*ZoneKeys, error) {
	for try := 0; ; try++ {
		zk, err := ReadKeys(ctx, ks, legacyDir, zone)
		if err != nil {
			return nil, err
		}
		switch {
		case what == RequestKSKRollover && zk.NextKSK() != nil:
			return nil, fmt.Errorf("a KSK rollover of %s is already in progress (finish it with --finish)", zone)
		case what == RequestKSKRollover && zk.Signing != SigningOn:
			return nil, fmt.Errorf("DNSSEC of %s is off or being turned off", zone)
		case what == RequestKSKFinish && zk.NextKSK() == nil:
			return nil, fmt.Errorf("no KSK rollover of %s is in progress", zone)
		case what == RequestDNSSECOff || what == RequestDNSSECFinish || what == RequestDNSSECOn:
			if msg := signingRefusal(zk, what); msg != "" {
				return nil, fmt.Errorf("%s: %s", zone, msg)
			}
		case what != RequestKSKRollover && what != RequestKSKFinish:
			return nil, fmt.Errorf("unknown DNSSEC request %q", what)
		}
		switch what {
		case RequestKSKRollover:
			err = zk.startKSKRollover(now)
		case RequestKSKFinish:
			err = zk.finishKSKRollover(now)
		default:
			err = zk.setSigning(what, now) // unsign.go
		}
		if err != nil {
			return nil, fmt.Errorf("DNSSEC request for %s: %w", zone, err)
		}
		err = zk.save(ctx, ks)
		if errors.Is(err, ErrKeyConflict) && try < 5 {
			continue
		}
		return zk, err
	}
}

// NextKSK returns the incoming KSK of a rollover in progress, or nil.
func (zk *ZoneKeys) NextKSK() *Key { return zk.find(roleKSK, statePublished) }

// parentKSK is the KSK the parent's DS should name.
func (zk *ZoneKeys) parentKSK() *Key {
	if k := zk.NextKSK(); k != nil {
		return k
	}
	return zk.KSK()
}

// ksks are the KSKs that sign the DNSKEY RRset: the active one and the
// incoming one.
func (zk *ZoneKeys) ksks() []*Key {
	var out []*Key
	for _, k := range zk.Keys {
		if k.Role == roleKSK && (k.State == stateActive || k.State == statePublished) {
			out = append(out, k)
		}
	}
	return out
}

// CDS returns the CDS and CDNSKEY records of the apex (RFC 7344 3):
// the key the parent's DS should name.
func (zk *ZoneKeys) CDS() (cds, cdnskey []dns.RR) {
	if zk.Signing == SigningDeleting {
		return deleteSignal(zk.Zone) // unsign.go
	}
	k := zk.parentKSK()
	ds := k.pub.ToDS(dns.SHA256).ToCDS()
	ds.Hdr.Ttl = keyTTL
	key := k.pub.ToCDNSKEY()
	key.Hdr.Ttl = keyTTL
	return []dns.RR{ds}, []dns.RR{key}
}

// DSOf returns a key's DS (SHA-256).
func DSOf(k *Key) *dns.DS {
	ds := k.pub.ToDS(dns.SHA256)
	ds.Hdr.Ttl = keyTTL
	return ds
}

// Rollover describes a KSK rollover in progress.
type Rollover struct {
	Since    time.Time // when the new KSK was published
	Old, New *dns.DS
	// ParentSeen is when the parent was first seen with the new DS
	// (zero: not yet); the old KSK goes ParentWait after it.
	ParentSeen time.Time
	ParentWait time.Duration
}

// KSKRollover returns the rollover in progress, or nil.
func (zk *ZoneKeys) KSKRollover() *Rollover {
	next := zk.NextKSK()
	if next == nil {
		return nil
	}
	return &Rollover{Since: next.Since, Old: DSOf(zk.KSK()), New: DSOf(next),
		ParentSeen: zk.ParentSeen, ParentWait: time.Duration(zk.ParentTTL) * time.Second}
}

// clone copies the key list, so that a change does not touch the keys
// the zones being served hold.
func (zk *ZoneKeys) clone() *ZoneKeys {
	c := *zk
	c.Keys = make([]*Key, len(zk.Keys))
	for i, k := range zk.Keys {
		kc := *k
		c.Keys[i] = &kc
	}
	return &c
}

// startKSKRollover publishes a new KSK.
func (zk *ZoneKeys) startKSKRollover(now time.Time) error {
	if zk.NextKSK() != nil {
		return errors.New("a KSK rollover is already in progress")
	}
	k, err := newKey(zk.Zone, roleKSK, now)
	if err != nil {
		return err
	}
	k.State = statePublished
	zk.Keys = append(zk.Keys, k)
	return nil
}

// finishKSKRollover removes the old KSK and makes the new one active.
func (zk *ZoneKeys) finishKSKRollover(now time.Time) error {
	next, old := zk.NextKSK(), zk.KSK()
	if next == nil {
		return errors.New("no KSK rollover is in progress")
	}
	kept := zk.Keys[:0]
	for _, k := range zk.Keys {
		if k != old {
			kept = append(kept, k)
		}
	}
	zk.Keys = kept
	next.State, next.Since = stateActive, now.UTC()
	zk.ParentSeen, zk.ParentTTL = time.Time{}, 0
	return nil
}

// parentStep moves a rollover on from the parent's DS RRset: the first
// time it names the new key starts the wait of its TTL, after which
// the old KSK goes. It tells whether the keys changed.
func (zk *ZoneKeys) parentStep(parent []*dns.DS, now time.Time) (bool, error) {
	next := zk.NextKSK()
	if next == nil {
		return false, nil
	}
	want := DSOf(next)
	var seen *dns.DS
	for _, ds := range parent {
		if ds.KeyTag == want.KeyTag && ds.Algorithm == want.Algorithm && ds.DigestType == want.DigestType && strings.EqualFold(ds.Digest, want.Digest) {
			seen = ds
		}
	}
	switch {
	case seen == nil:
		if zk.ParentSeen.IsZero() {
			return false, nil
		}
		zk.ParentSeen, zk.ParentTTL = time.Time{}, 0 // the parent went back
		return true, nil
	case zk.ParentSeen.IsZero():
		zk.ParentSeen, zk.ParentTTL = now.UTC(), min(seen.Hdr.Ttl, uint32(maxParentWait/time.Second))
		return true, nil
	case now.Sub(zk.ParentSeen) >= time.Duration(zk.ParentTTL)*time.Second:
		return true, zk.finishKSKRollover(now)
	}
	return false, nil
}

// checkParents asks the parents of the zones rolling their KSK for
// their DS (Options.ParentDS) and moves the rollovers on; called with
// loadMu held. It tells whether keys changed.
func (s *Server) checkParents(now time.Time) bool {
	if s.opts.ParentDS == nil || now.Sub(s.parentAt) < parentCheck {
		return false
	}
	s.parentAt = now
	changed := false
	for apex, zk := range s.keys {
		if zk.NextKSK() == nil && zk.Signing != SigningDeleting {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if c := s.parentZone(ctx, apex, zk, now); c != nil {
			s.keys[apex] = c
			changed = true
		}
		cancel()
	}
	return changed
}

// parentZone moves one zone's KSK rollover or turning off on from its
// parent's DS; it returns the new keys, nil when nothing changed (or
// another node changed them first: the next build reads theirs).
func (s *Server) parentZone(ctx context.Context, apex string, zk *ZoneKeys, now time.Time) *ZoneKeys {
	parent, err := s.opts.ParentDS(ctx, apex)
	if err != nil {
		s.log.Warn("asking the parent for the DS of a zone rolling its KSK or turning DNSSEC off", "zone", apex, "err", err)
		return nil
	}
	c := zk.clone()
	if c.unsignStep(parent, now) { // unsign.go
		if err := c.save(ctx, s.opts.Keys); err != nil {
			s.keyWriteFailed("turning DNSSEC off", apex, err)
			return nil
		}
		s.log.Info("turning DNSSEC off: the parent's DS", "zone", apex, "parent_ds_gone", !c.ParentGone.IsZero(), "unsigned", !c.Signed())
		return c
	}
	moved, err := c.parentStep(parent, now)
	if err == nil && moved {
		err = c.save(ctx, s.opts.Keys)
	}
	if err != nil {
		s.keyWriteFailed("KSK rollover", apex, err)
		return nil
	}
	if !moved {
		return nil
	}
	s.log.Info("KSK rollover: the parent's DS", "zone", apex, "new_ds_seen", !c.ParentSeen.IsZero(), "finished", c.NextKSK() == nil)
	return c
}

// keyWriteFailed logs a key write that failed: quietly when another node
// wrote the same zone's keys first (the next build reads them).
func (s *Server) keyWriteFailed(what, apex string, err error) {
	if errors.Is(err, ErrKeyConflict) {
		s.log.Debug(what+": another node changed the keys first", "zone", apex)
		return
	}
	s.log.Warn(what, "zone", apex, "err", err)
}

// parentCheck is how often the parent of a zone rolling its KSK is
// asked for its DS.
const parentCheck = time.Minute
