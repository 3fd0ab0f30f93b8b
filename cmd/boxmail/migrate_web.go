package main

// The switch-over checklist of 'migrate status', measured once for the
// command and for the admin panel's Migration page (web.Options.MigrationStatus).

import (
	"context"
	"strings"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
	"boxmail/internal/web"
)

// measureMigration measures the checklist of each domain and records
// the dates steps were first seen done.
func measureMigration(ctx context.Context, dir string, st *store.Store, cfg config.Config, domains []string, timeout time.Duration) (map[string][]migrationStep, error) {
	set, in, err := buildRecords(ctx, dir, st, cfg)
	if err != nil {
		return nil, err
	}
	servers := cfg.Resolvers
	r := resolver.System()
	if len(servers) > 0 {
		r = &resolver.Net{Servers: servers}
	}
	r.Timeout = timeout
	accounts, err := st.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	host := strings.ToLower(strings.TrimSuffix(cfg.Hostname, "."))
	out := map[string][]migrationStep{}
	for _, d := range domains {
		results := dnsrecords.Check(ctx, r, set, in, dnsrecords.CheckOptions{Domains: []string{d}})
		var accs []store.Account
		for _, a := range accounts {
			if strings.HasSuffix(a.Email, "@"+d) {
				accs = append(accs, a)
			}
		}
		steps := migrationSteps(ctx, st, d, host, accs, results, servers, timeout)
		var done []string
		for _, s := range steps {
			if s.State == stepDone {
				done = append(done, s.Name)
			}
		}
		if err := st.MarkMigrationSteps(ctx, d, done); err != nil {
			return nil, err
		}
		since, err := st.MigrationSteps(ctx, d)
		if err != nil {
			return nil, err
		}
		for i := range steps {
			if steps[i].State == stepDone {
				steps[i].Since = since[steps[i].Name]
			}
		}
		out[d] = steps
	}
	return out, nil
}

// webMigrationStatus is the Migration page's data: every hosted domain.
func webMigrationStatus(ctx context.Context, dir string, st *store.Store, cfg config.Config) ([]web.MigrationDomain, error) {
	ds, err := st.Domains(ctx)
	if err != nil {
		return nil, err
	}
	var domains []string
	for _, d := range ds {
		domains = append(domains, d.Name)
	}
	out, err := measureMigration(ctx, dir, st, cfg, domains, 3*time.Second)
	if err != nil {
		return nil, err
	}
	res := []web.MigrationDomain{}
	for _, d := range domains {
		md := web.MigrationDomain{Domain: d, Steps: []web.MigrationStep{}}
		for _, s := range out[d] {
			md.Steps = append(md.Steps, web.MigrationStep{N: s.N, Name: s.Name, State: s.State, Found: s.Found, Next: s.Next, Since: s.Since, Detail: s.Detail})
		}
		res = append(res, md)
	}
	return res, nil
}
