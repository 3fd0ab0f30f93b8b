package dnsd

// Turning DNSSEC off without breaking resolution (RFC 8078 4, RFC 6781
// 4.3.6): a zone whose parent has our DS must stay signed until every
// resolver has forgotten that DS, or they all answer SERVFAIL. So:
//
//	on  -(Request: dnssec-off)-> deleting: still signed; the CDS and
//	    CDNSKEY RRsets are the delete signal "CDS 0 0 0 00" and
//	    "CDNSKEY 0 3 0 AA==", which a parent that scans for them acts
//	    on, and the admin removes the DS at the registrar otherwise
//	deleting -(the parent has had no DS for the TTL of the DS it had,
//	    Options.ParentDS; or Request: dnssec-off-finish)-> off: served
//	    unsigned (no DNSKEY, RRSIG, NSEC, CDS)
//	deleting or off -(Request: dnssec-on)-> on: signed again with the
//	    same keys (their DS goes back to the registrar)
//
// The keys stay in the store throughout; "signing" in their JSON says
// which step the zone is at.

import (
	"errors"
	"time"

	"github.com/miekg/dns"
)

// The requests of turning DNSSEC off and on again.
const (
	RequestDNSSECOff    = "dnssec-off"
	RequestDNSSECFinish = "dnssec-off-finish"
	RequestDNSSECOn     = "dnssec-on"
)

// Signing states of a zone (ZoneKeys.Signing).
const (
	SigningOn       = ""
	SigningDeleting = "deleting"
	SigningOff      = "off"
)

// unknownDSTTL is how long the box waits after the parent's DS is gone
// when it never saw that DS (so does not know its TTL): a day, the TTL
// most registries give DS records.
const unknownDSTTL = 24 * time.Hour

// Signed tells whether the zone is served signed.
func (zk *ZoneKeys) Signed() bool { return zk.Signing != SigningOff }

// Unsigning describes DNSSEC being turned off.
type Unsigning struct {
	Since time.Time // when the delete signal was first published
	// ParentGone is when the parent was first seen without a DS (zero:
	// not yet); the zone is signed until ParentWait after it.
	ParentGone time.Time
	ParentWait time.Duration
}

// Unsigning returns DNSSEC being turned off, nil when the zone is not
// in that step.
func (zk *ZoneKeys) Unsigning() *Unsigning {
	if zk.Signing != SigningDeleting {
		return nil
	}
	return &Unsigning{Since: zk.SigningSince, ParentGone: zk.ParentGone, ParentWait: zk.dsWait()}
}

// dsWait is how long resolvers may still hold the parent's DS once it
// is gone: the TTL it had when last seen, else unknownDSTTL.
func (zk *ZoneKeys) dsWait() time.Duration {
	if zk.ParentTTL > 0 {
		return time.Duration(zk.ParentTTL) * time.Second
	}
	return unknownDSTTL
}

// deleteSignal is the CDS and CDNSKEY of RFC 8078 4: remove every DS.
func deleteSignal(apex string) (cds, cdnskey []dns.RR) {
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: apex, Rrtype: t, Class: dns.ClassINET, Ttl: keyTTL}
	}
	c := &dns.CDS{DS: dns.DS{Hdr: hdr(dns.TypeCDS), Digest: "00"}}
	k := &dns.CDNSKEY{DNSKEY: dns.DNSKEY{Hdr: hdr(dns.TypeCDNSKEY), Protocol: 3, PublicKey: "AA=="}}
	return []dns.RR{c}, []dns.RR{k}
}

// setSigning applies a request of turning DNSSEC off or on.
func (zk *ZoneKeys) setSigning(what string, now time.Time) error {
	switch {
	case what == RequestDNSSECOff && zk.Signing == SigningOn:
		zk.Signing = SigningDeleting
	case what == RequestDNSSECFinish && zk.Signing == SigningDeleting:
		zk.Signing = SigningOff
	case what == RequestDNSSECOn && zk.Signing != SigningOn:
		zk.Signing = SigningOn
	default:
		msg := signingRefusal(zk, what)
		if msg == "" {
			msg = "the request does not apply now"
		}
		return errors.New(msg)
	}
	zk.SigningSince, zk.ParentGone, zk.ParentTTL = now.UTC(), time.Time{}, 0
	return nil
}

// signingRefusal says why a request does not apply to the zone now ("" when it does).
func signingRefusal(zk *ZoneKeys, what string) string {
	switch what {
	case RequestDNSSECOff:
		if zk.NextKSK() != nil {
			return "a KSK rollover is in progress: finish it first (dns rollover-ksk --finish)"
		}
		if zk.Signing != SigningOn {
			return "DNSSEC is already being turned off"
		}
	case RequestDNSSECFinish:
		if zk.Signing != SigningDeleting {
			return "DNSSEC is not being turned off (dns dnssec off DOMAIN first)"
		}
	case RequestDNSSECOn:
		if zk.Signing == SigningOn {
			return "DNSSEC is on already"
		}
	}
	return ""
}

// unsignStep moves the turning off on from the parent's DS RRset: while
// it has a DS, its TTL is noted; the first time it has none starts the
// wait of that TTL, after which the zone is served unsigned. It tells
// whether the keys changed.
func (zk *ZoneKeys) unsignStep(parent []*dns.DS, now time.Time) bool {
	if zk.Signing != SigningDeleting {
		return false
	}
	if len(parent) > 0 {
		ttl := parent[0].Hdr.Ttl
		if !zk.ParentGone.IsZero() || zk.ParentTTL != ttl {
			zk.ParentGone, zk.ParentTTL = time.Time{}, min(ttl, uint32(maxParentWait/time.Second))
			return true
		}
		return false
	}
	switch {
	case zk.ParentGone.IsZero():
		zk.ParentGone = now.UTC()
		return true
	case now.Sub(zk.ParentGone) >= zk.dsWait():
		zk.Signing, zk.SigningSince = SigningOff, now.UTC()
		return true
	}
	return false
}
