package main

// 'boxmail dns dnssec off|on DOMAIN': turning DNSSEC off without a
// resolver failing (dnsd unsign.go): the zone stays signed and
// publishes the RFC 8078 delete signal until the parent's DS is gone
// for its TTL, then is served unsigned; and its status line, which says
// what to do at the registrar and, with resolvers in the config, what
// the parent has.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/dnsd"
	"boxmail/internal/dnsrecords"
)

// dnsDNSSEC turns a zone's DNSSEC off (in steps) or on again.
func dnsDNSSEC(e *env, args []string) error {
	var finish bool
	return dnsBox(e, "dnssec", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&finish, "finish", false, "with off: stop signing now (once the registrar has removed the DS and its TTL has passed)")
	}, func(pos []string) error {
		if len(pos) != 2 || pos[0] != "off" && pos[0] != "on" || finish && pos[0] != "off" {
			return usagef("usage: dns dnssec off DOMAIN [--finish] | dns dnssec on DOMAIN")
		}
		return nil
	}, func(r dnsRun) error {
		zones, err := zonesFor(r.set, r.pos[1])
		if err != nil {
			return err
		}
		z, what, want := zones[0], dnsd.RequestDNSSECOn, dnsd.SigningOn
		switch {
		case r.pos[0] == "off" && finish:
			what, want = dnsd.RequestDNSSECFinish, dnsd.SigningOff
		case r.pos[0] == "off":
			what, want = dnsd.RequestDNSSECOff, dnsd.SigningDeleting
		}
		_, err = dnsd.Request(context.Background(), r.st, dnssecDir(r.dir), z, what, time.Now())
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s has no DNSSEC keys yet: 'boxmail serve' makes them when it first loads the zone", z)
		} else if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, signingSaid(z, want)) // every serving node applies it at its next DNS poll
		return nil
	})
}

// signingSaid is what 'dns dnssec' says once the box applied it.
func signingSaid(z, state string) string {
	switch state {
	case dnsd.SigningDeleting:
		return fmt.Sprintf("DNSSEC of %s is being turned off: the zone stays signed and publishes the delete signal (CDS 0 0 0 00, CDNSKEY 0 3 0 AA==).\n"+
			"Remove the DS record of %s at the registrar (a registry that reads CDS removes it by itself).\n"+
			"The box stops signing once the parent has had no DS for the DS's TTL ('boxmail status' shows it), or with 'boxmail dns dnssec off %s --finish'.", z, z, z)
	case dnsd.SigningOff:
		return fmt.Sprintf("DNSSEC of %s is off: the zone is served unsigned ('boxmail dns dnssec on %s' signs it again).", z, z)
	}
	return fmt.Sprintf("DNSSEC of %s is on: the zone is signed again; give the registrar the DS from 'boxmail dns records --format zone'.", z)
}

// signingLine is the DNSSEC status line of a zone whose DNSSEC is off
// or being turned off (ok false: neither, or no keys: zk nil).
func signingLine(ctx context.Context, zk *dnsd.ZoneKeys, cfg config.Config, z string, timeout time.Duration) (dnsrecords.Result, bool) {
	if zk == nil || zk.Signing == dnsd.SigningOn {
		return dnsrecords.Result{}, false
	}
	r := dnsrecords.Result{Level: dnsrecords.Warn, Subject: z, Check: "DNSSEC"}
	var parent []string
	var perr error
	if len(cfg.Resolvers) > 0 {
		var dsSet []string
		ds, err := parentDS(ctx, cfg.Resolvers, z, timeout)
		for _, d := range ds {
			dsSet = append(dsSet, dsText(d))
		}
		parent, perr = dsSet, err
	}
	if u := zk.Unsigning(); u == nil {
		r.Found = "DNSSEC is off: the zone is served unsigned"
		r.Fix = fmt.Sprintf("'boxmail dns dnssec on %s' signs it again (DANE needs DNSSEC)", z)
		if len(parent) > 0 {
			r.Level, r.Found = dnsrecords.Fail, r.Found+"; but the parent still has a DS ("+strings.Join(parent, ", ")+"): validating resolvers fail on the zone (SERVFAIL)"
			r.Fix = fmt.Sprintf("remove the DS of %s at the registrar, or 'boxmail dns dnssec on %s'", z, z)
		}
		return r, true
	}
	u := zk.Unsigning()
	r.Found = fmt.Sprintf("DNSSEC being turned off since %s: the zone is still signed and publishes the delete signal (CDS 0 0 0 00, CDNSKEY 0 3 0 AA==)", u.Since.UTC().Format(time.RFC3339))
	r.Fix = fmt.Sprintf("remove the DS record of %s at the registrar (a registry that reads CDS removes it by itself); the box stops signing once the parent has had none for the DS's TTL ('boxmail dns dnssec off %s --finish' stops now)", z, z)
	switch {
	case len(cfg.Resolvers) == 0:
		r.Found += "; the parent's DS not checked (no resolver in boxmail.conf)"
	case perr != nil:
		r.Found += "; could not ask for the parent's DS: " + perr.Error()
	case len(parent) > 0:
		r.Found += "; the parent still has the DS " + strings.Join(parent, ", ")
	case u.ParentGone.IsZero():
		r.Found += "; the parent has no DS"
		r.Fix = "nothing: the box stops signing once the parent has had no DS for the DS's TTL"
	default:
		r.Found += fmt.Sprintf("; the parent has had no DS since %s, the box stops signing at %s", u.ParentGone.UTC().Format(time.RFC3339), u.ParentGone.Add(u.ParentWait).UTC().Format(time.RFC3339))
		r.Fix = "nothing: wait"
	}
	return r, true
}
