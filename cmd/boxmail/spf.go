package main

// 'boxmail spf': the SPF switch-over of a migration. 'include' adds the
// box to an existing record, naming the old provider's servers by
// address; 'harden' prints the strict record, warning of each user who
// has not switched yet.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

func spfCommands() []subcommand {
	return []subcommand{
		{name: "include", args: "EXISTING_RECORD [--box HOST] [--domain DOMAIN]", summary: "the domain's SPF record with the box added and its mx/a named by address (\"\" when it has none)", run: spfInclude},
		{name: "harden", args: "DOMAIN", summary: "the strict record, once every user sends through the box (warns of each who does not)", run: spfHarden},
	}
}

func spfInclude(e *env, args []string) error {
	var box, domain string
	var timeout time.Duration
	dir, pos, err := parseWith(e, "spf include", args, func(fs *flag.FlagSet) {
		fs.StringVar(&box, "box", "", "the box's hostname (default: the hostname in the data dir's config)")
		fs.StringVar(&domain, "domain", "", "the domain whose record it is, what its mx and a mean (default: the box's hosted domain when it has one)")
		fs.DurationVar(&timeout, "timeout", 3*time.Second, "timeout of each DNS query")
	})
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef(`usage: spf include EXISTING_RECORD [--box HOST] [--domain DOMAIN] (use "" when the domain has no SPF record)`)
	}
	cfg, err := config.Load(dir)
	haveCfg := err == nil
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if box == "" {
		if !haveCfg {
			return usagef("give --box HOSTNAME (no %s in %s to read it from)", config.FileName, dir)
		}
		box = cfg.Hostname
	}
	var hosted []string
	if domain == "" && haveCfg {
		if hosted, err = spfHostedDomains(dir); err != nil {
			return err
		}
		if len(hosted) == 1 {
			domain = hosted[0]
		}
	}
	// The box's one resolver rule: the config's resolvers, else the
	// system's.
	r := resolver.Servers(cfg.Resolvers)
	r.Timeout = timeout
	adv, err := dnsrecords.RelaxSPF(context.Background(), r, strings.Join(pos, " "), domain, box)
	if errors.Is(err, dnsrecords.ErrNeedDomain) {
		which := "the box hosts no domain to default to"
		if !haveCfg {
			which = fmt.Sprintf("no %s in %s to read the hosted domain from", config.FileName, dir)
		} else if len(hosted) > 1 {
			which = "the box hosts " + strings.Join(hosted, ", ")
		}
		return usagef("give --domain DOMAIN: %s (%s)", err.Error(), which)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, adv.Record)
	for _, n := range adv.Notes {
		if !strings.HasPrefix(n, "warning: ") {
			n = "note: " + n
		}
		fmt.Fprintln(e.stderr, n)
	}
	if domain != "" && adv.Changed {
		fmt.Fprintf(e.stderr, "note: publish it as the TXT record of %s (name @) in place of the current SPF record, before MX moves to %s\n", domain, box)
	}
	return nil
}

// spfHostedDomains lists the box's hosted domains (the default of
// --domain).
func spfHostedDomains(dir string) (out []string, err error) {
	st, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	defer closeStore(st, &err)
	ds, err := st.Domains(context.Background())
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		out = append(out, strings.ToLower(d.Name))
	}
	return out, nil
}

func spfHarden(e *env, args []string) error {
	dir, pos, err := parseWith(e, "spf harden", args, nil)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: spf harden DOMAIN")
	}
	return withBox(dir, func(cfg config.Config, st *store.Store) error {
		ctx := context.Background()
		domain, err := hostedDomain(ctx, st, pos[0])
		if err != nil {
			return err
		}
		notSwitched, err := newAdmin(st).NotSwitched(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, dnsrecords.HardenedSPF)
		for _, a := range notSwitched[domain] {
			fmt.Fprintf(e.stderr, "warning: %s has not switched yet (never logged in at the box): once this record is published, mail it sends through the old provider fails SPF\n", a)
		}
		if n := len(notSwitched[domain]); n > 0 {
			fmt.Fprintf(e.stderr, "warning: %d account(s) of %s still send through the old provider: keep the relaxed record ('boxmail spf include') until they have switched; 'boxmail migrate status %s' shows who\n", n, domain, domain)
		}
		fmt.Fprintf(e.stderr, "note: publish it as the TXT record of %s (name @) in place of the current SPF record, once MX points at %s and every user sends through the box: then only the box may send as @%s\n", domain, cfg.Hostname, domain)
		fmt.Fprintf(e.stderr, "note: 'boxmail status %s' shows where the switch-over is\n", domain)
		return nil
	})
}
