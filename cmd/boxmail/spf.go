package main

// 'boxmail spf': the SPF switch-over of a migration. 'include' adds the
// box to an existing record, 'harden' prints the strict record.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"boxmail/internal/config"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/store"
)

func spfCommands() []subcommand {
	return []subcommand{
		{name: "include", args: "EXISTING_RECORD [--box HOST]", summary: "the domain's SPF record with the box added (\"\" when it has none)", run: spfInclude},
		{name: "harden", args: "DOMAIN", summary: "the strict record, once every user sends through the box", run: spfHarden},
	}
}

func spfInclude(e *env, args []string) error {
	var box string
	dir, pos, err := parseWith(e, "spf include", args, func(fs *flag.FlagSet) {
		fs.StringVar(&box, "box", "", "the box's hostname (default: the hostname in the data dir's config)")
	})
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef(`usage: spf include EXISTING_RECORD [--box HOST] (use "" when the domain has no SPF record)`)
	}
	if box == "" {
		cfg, err := config.Load(dir)
		if err != nil {
			if os.IsNotExist(err) {
				return usagef("give --box HOSTNAME (no %s in %s to read it from)", config.FileName, dir)
			}
			return err
		}
		box = cfg.Hostname
	}
	adv, err := dnsrecords.IncludeBox(strings.Join(pos, " "), box)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, adv.Record)
	for _, n := range adv.Notes {
		fmt.Fprintln(e.stderr, "note: "+n)
	}
	return nil
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
		domain, err := hostedDomain(context.Background(), st, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, dnsrecords.HardenedSPF)
		fmt.Fprintf(e.stderr, "note: publish it as the TXT record of %s (name @) in place of the current SPF record, once MX points at %s and every user sends through the box: then only the box may send as @%s\n", domain, cfg.Hostname, domain)
		fmt.Fprintf(e.stderr, "note: 'boxmail status %s' shows where the switch-over is\n", domain)
		return nil
	})
}
