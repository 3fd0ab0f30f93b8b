package main

// 'boxmail dns': the records the box needs (as it serves them), and the
// custom records an admin adds; and the record set's input, built from
// the config and the store (dnsrecords sees neither).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"boxmail/internal/certs"
	"boxmail/internal/config"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/store"
)

// recordInput builds the record set's input from the store and the
// config; dnsrecords does not see either.
func recordInput(ctx context.Context, dir string, st *store.Store, cfg config.Config) (dnsrecords.Input, error) {
	gen, err := st.Generation(ctx)
	if err != nil {
		return dnsrecords.Input{}, err
	}
	return recordInputAt(ctx, dir, st, cfg, gen)
}

// buildRecords computes the box's record set now.
func buildRecords(ctx context.Context, dir string, st *store.Store, cfg config.Config) (*dnsrecords.Set, dnsrecords.Input, error) {
	in, err := recordInput(ctx, dir, st, cfg)
	if err != nil {
		return nil, in, err
	}
	set, err := dnsrecords.Build(in)
	return set, in, err
}

func recordInputAt(ctx context.Context, dir string, st *store.Store, cfg config.Config, gen int64) (dnsrecords.Input, error) {
	cm := newCerts(dir, cfg, nil)
	cm.ReadACMEFrom(st)
	return recordInputWith(ctx, dir, st, cfg, gen, cm, !cfg.ACME.On || !cm.Trusted())
}

// recordInputWith is recordInputAt with the certificate manager whose
// certificate the TLSA records describe; live says it is the one the
// listeners serve (the serving process's, or a box without ACME).
func recordInputWith(ctx context.Context, dir string, st *store.Store, cfg config.Config, gen int64, cm *certs.Manager, live bool) (dnsrecords.Input, error) {
	in := dnsrecords.Input{
		Hostname: cfg.Hostname, IPv4: cfg.PublicIPv4, IPv6: cfg.PublicIPv6,
		Submission: cfg.SubmissionPort, Submissions: cfg.SubmissionsPort, IMAP: cfg.IMAPPort, IMAPS: cfg.IMAPSPort, POP3S: cfg.POP3SPort, HTTPS: cfg.HTTPSPort,
		Serial: uint32(gen),
	}
	if cm.Trusted() {
		in.MTASTSEnforce = true // the web server serves mode: enforce
	}
	in.TLSA = boxTLSA(cm, live)
	domains, err := st.Domains(ctx)
	if err != nil {
		return in, err
	}
	in.DS = dnssecDS(ctx, dir, st, cfg.Hostname, domains)
	keys, err := st.DKIMKeys(ctx, "")
	if err != nil {
		return in, err
	}
	for _, d := range domains {
		dom := dnsrecords.Domain{Name: d.Name}
		for _, k := range keys {
			if k.Domain == d.Name {
				dom.DKIM = append(dom.DKIM, dnsrecords.DKIMKey{Selector: k.Selector, PrivatePEM: k.Private})
			}
		}
		in.Domains = append(in.Domains, dom)
	}
	custom, err := st.DNSRecords(ctx)
	if err != nil {
		return in, err
	}
	for _, c := range custom {
		in.Custom = append(in.Custom, dnsrecords.Custom{Name: c.Name, Type: c.Type, Value: c.Value})
	}
	return in, nil
}

// zonesFor returns the zones to show: all, or the one of a domain.
func zonesFor(set *dnsrecords.Set, domain string) ([]string, error) {
	if domain == "" {
		return set.Zones, nil
	}
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, z := range set.Zones {
		if z == d {
			return []string{z}, nil
		}
	}
	return nil, fmt.Errorf("%s is not a hosted domain (zones: %s)", d, strings.Join(set.Zones, ", "))
}

func dnsCommands() []subcommand {
	return []subcommand{
		{name: "records", args: "[DOMAIN] [--format table|zone|json]", summary: "the records to publish (or that the box serves)", run: dnsRecords},
		{name: "set", args: "NAME TYPE VALUE", summary: "add a custom record (it may replace a generated one)", run: dnsSet},
		{name: "unset", args: "NAME TYPE [VALUE]", summary: "remove custom records", run: dnsUnset},
		{name: "rollover-ksk", args: "DOMAIN [--finish]", summary: "start (or finish) a DNSSEC KSK rollover: a new key, its DS for the registrar, CDS/CDNSKEY", run: dnsRolloverKSK},
		{name: "dnssec", args: "off|on DOMAIN [--finish]", summary: "turn DNSSEC off without breaking resolution (the delete signal, signed until the parent's DS is gone; --finish: stop signing now), or on again", run: dnsDNSSEC},
		{name: "zone", args: "DOMAIN --signed", summary: "the zone as the box serves it, DNSSEC-signed (for dnssec-verify, ldns-verify-zone)", run: dnsZone},
	}
}

// dnsBox parses a dns subcommand's flags, lets check look at the
// arguments, opens the box with its record set, runs run and closes the
// store.
func dnsBox(e *env, sub string, args []string, flags func(*flag.FlagSet), check func([]string) error, run func(dnsRun) error) (err error) {
	dir, pos, err := parseWith(e, "dns "+sub, args, flags)
	if err != nil {
		return err
	}
	if err := check(pos); err != nil {
		return err
	}
	cfg, st, err := openBox(dir)
	if err != nil {
		return err
	}
	set, in, err := buildRecords(context.Background(), dir, st, cfg)
	if err != nil {
		return errors.Join(err, st.Close())
	}
	defer closeStore(st, &err)
	return run(dnsRun{dir: dir, pos: pos, st: st, set: set, in: in})
}

// dnsRun is what a dns subcommand acts on.
type dnsRun struct {
	dir string
	pos []string
	st  *store.Store
	set *dnsrecords.Set
	in  dnsrecords.Input
}

func dnsRecords(e *env, args []string) error {
	var format string
	return dnsBox(e, "records", args, func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", "table", "table (for DNS hosts' forms), zone (a zone file) or json")
	}, func(pos []string) error {
		if err := atMostOneDomain("dns records", pos); err != nil {
			return err
		}
		if format != "table" && format != "zone" && format != "json" {
			return usagef("--format must be table, zone or json, not %q", format)
		}
		return nil
	}, func(r dnsRun) error {
		domain := ""
		if len(r.pos) == 1 {
			domain = r.pos[0]
		}
		zones, err := zonesFor(r.set, domain)
		if err != nil {
			return err
		}
		switch format {
		case "zone":
			return r.set.WriteZone(e.stdout, zones)
		case "json":
			return r.set.WriteJSON(e.stdout, zones)
		}
		return r.set.WriteTable(e.stdout, zones)
	})
}

func dnsSet(e *env, args []string) error {
	return dnsBox(e, "set", args, nil, func(pos []string) error {
		if len(pos) < 3 {
			return usagef("usage: dns set NAME TYPE VALUE (e.g. dns set www.example.net A 192.0.2.1)")
		}
		return nil
	}, func(r dnsRun) error {
		c, replaced, err := newAdmin(r.st).SetDNSRecord(context.Background(), r.set, r.in, r.pos[0], r.pos[1], strings.Join(r.pos[2:], " "))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added %s %s %s\n", c.Name, c.Type, c.Value)
		for _, g := range replaced {
			if !g.Custom {
				fmt.Fprintf(e.stdout, "it replaces the generated %s %s %s (%s)\n", g.Relative(), g.Type, g.Text(), g.Why)
			}
		}
		return nil
	})
}

func dnsUnset(e *env, args []string) error {
	return dnsBox(e, "unset", args, nil, func(pos []string) error {
		if len(pos) < 2 {
			return usagef("usage: dns unset NAME TYPE [VALUE]")
		}
		return nil
	}, func(r dnsRun) error {
		name, typ, n, err := newAdmin(r.st).UnsetDNSRecords(context.Background(), r.set, r.pos[0], r.pos[1], strings.Join(r.pos[2:], " "))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed %d custom record(s) %s %s\n", n, name, typ)
		return nil
	})
}
