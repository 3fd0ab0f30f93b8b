package main

// 'boxmail spf': the SPF switch-over of a migration. 'include' adds the
// box to an existing record, 'harden' prints the strict record.

import (
	"context"
	"fmt"
	"os"
	"strings"

	"boxmail/internal/config"
	"boxmail/internal/dnsrecords"
)

func spfCommands() []subcommand {
	return []subcommand{
		{name: "include", args: "EXISTING_RECORD [--box HOST]", summary: "the domain's SPF record with the box added (\"\" when it has none)", run: spfInclude},
		{name: "harden", args: "DOMAIN", summary: "the strict record, once every user sends through the box", run: spfHarden},
	}
}

func spfInclude(e *env, args []string) error {
	var dir, box string
	fs := newFlags(e, "spf include", &dir)
	fs.StringVar(&box, "box", "", "the box's hostname (default: the hostname in the data dir's config)")
	pos, err := parseFlags(e, fs, args)
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

func spfHarden(e *env, args []string) (err error) {
	var dir string
	fs := newFlags(e, "spf harden", &dir)
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: spf harden DOMAIN")
	}
	domain := strings.ToLower(strings.TrimSuffix(pos[0], "."))
	cfg, st, err := openBox(dir)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	if ok, err := st.IsLocalDomain(context.Background(), domain); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("domain %s is not hosted here", domain)
	}
	fmt.Fprintln(e.stdout, dnsrecords.HardenedSPF)
	fmt.Fprintf(e.stderr, "note: publish it as the TXT record of %s (name @) in place of the current SPF record, once MX points at %s and every user sends through the box: then only the box may send as @%s\n", domain, cfg.Hostname, domain)
	fmt.Fprintf(e.stderr, "note: 'boxmail status %s' shows where the switch-over is\n", domain)
	return nil
}
