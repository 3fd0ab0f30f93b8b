package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"boxmail/internal/admin"
)

// cmdMigrateStatus shows where each domain stands in the seed document's
// switch-over checklist, measured where it can be.
func cmdMigrateStatus(e *env, args []string) error {
	var dir string
	var asJSON bool
	var timeout time.Duration
	fs := newFlags(e, "migrate status", &dir)
	fs.BoolVar(&asJSON, "json", false, "print the steps as JSON")
	fs.DurationVar(&timeout, "timeout", 3*time.Second, "timeout of each DNS query")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("migrate status takes at most one DOMAIN")
	}
	cfg, st, err := openBox(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	var domains []string
	if len(pos) == 1 {
		d := strings.ToLower(strings.TrimSuffix(pos[0], "."))
		if ok, err := st.IsLocalDomain(ctx, d); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("domain %s is not hosted here", d)
		}
		domains = []string{d}
	} else {
		ds, err := st.Domains(ctx)
		if err != nil {
			return err
		}
		for _, d := range ds {
			domains = append(domains, d.Name)
		}
	}
	out, err := newBoxAdmin(dir, cfg, st, nil, nil).Migration(ctx, domains, timeout)
	if err != nil {
		return err
	}
	if asJSON {
		byDomain := map[string][]admin.MigrationStep{}
		for _, d := range out {
			byDomain[d.Domain] = d.Steps
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(byDomain)
	}
	for _, d := range out {
		fmt.Fprintf(e.stdout, "migration of %s\n", d.Domain)
		for _, s := range d.Steps {
			since := ""
			if !s.Since.IsZero() {
				since = " (since " + s.Since.Format("2006-01-02") + ")"
			}
			fmt.Fprintf(e.stdout, "  %d. %-8s %s: %s%s\n", s.N, s.State, s.Name, s.Found, since)
			for _, l := range s.Detail {
				fmt.Fprintf(e.stdout, "       %s\n", l)
			}
			if s.State != admin.StepDone && s.Next != "" {
				fmt.Fprintf(e.stdout, "     next: %s\n", s.Next)
			}
		}
	}
	return nil
}
