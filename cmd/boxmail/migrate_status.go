package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"boxmail/internal/dnsrecords"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// Step states of 'migrate status'.
const (
	stepDone    = "done"
	stepWaiting = "waiting"
	stepToDo    = "to do"
)

type migrationStep struct {
	N      int       `json:"n"`
	Name   string    `json:"name"`
	State  string    `json:"state"`
	Found  string    `json:"found"`
	Next   string    `json:"next,omitempty"` // the command or DNS change to make
	Since  time.Time `json:"since,omitzero"` // first seen done
	Detail []string  `json:"detail,omitempty"`
}

// forwardRuleOf returns the address an account forwards a copy of its
// mail to with an enabled forward-and-keep rule of its active Sieve script
// (made by 'boxmail forward add' or a ManageSieve client), if any.
func forwardRuleOf(ctx context.Context, st *store.Store, acc store.Account) (to string, known bool) {
	sc, err := st.ActiveSieveScript(ctx, acc.ID)
	if err != nil {
		return "", false
	}
	_, rules := splitRules(sc.Content)
	for _, r := range rules {
		if r.enabled && strings.Contains(r.text, "redirect :copy") {
			if t := redirectTarget(r.text); t != "" {
				return t, true
			}
		}
	}
	return "", false
}

// firstLoginOf is the hook for "the user switched over": the first login
// the box recorded for the account (IMAP, POP3, SMTP, ManageSieve or the
// web; store.FirstLogin), known false when it never logged in.
func firstLoginOf(ctx context.Context, st *store.Store, acc store.Account) (t time.Time, known bool) {
	return firstLoginTime(ctx, st, acc.ID)
}

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
	out, err := measureMigration(ctx, dir, st, cfg, domains, timeout) // migrate_web.go
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, d := range domains {
		fmt.Fprintf(e.stdout, "migration of %s\n", d)
		for _, s := range out[d] {
			since := ""
			if !s.Since.IsZero() {
				since = " (since " + s.Since.Format("2006-01-02") + ")"
			}
			fmt.Fprintf(e.stdout, "  %d. %-8s %s: %s%s\n", s.N, s.State, s.Name, s.Found, since)
			for _, l := range s.Detail {
				fmt.Fprintf(e.stdout, "       %s\n", l)
			}
			if s.State != stepDone && s.Next != "" {
				fmt.Fprintf(e.stdout, "     next: %s\n", s.Next)
			}
		}
	}
	return nil
}

func findResult(results []dnsrecords.Result, check string) []dnsrecords.Result {
	var out []dnsrecords.Result
	for _, r := range results {
		if r.Check == check {
			out = append(out, r)
		}
	}
	return out
}

func migrationSteps(ctx context.Context, st *store.Store, d, host string, accs []store.Account, results []dnsrecords.Result, servers []string, timeout time.Duration) []migrationStep {
	var steps []migrationStep
	add := func(s migrationStep) { s.N = len(steps) + 1; steps = append(steps, s) }

	// 1. accounts
	s := migrationStep{Name: "accounts created on the box", State: stepToDo, Found: "no accounts",
		Next: "boxmail user add NAME@" + d + " (one per family member)"}
	if len(accs) > 0 {
		s.State = stepDone
		s.Found = fmt.Sprintf("%d accounts", len(accs))
		for _, a := range accs {
			s.Detail = append(s.Detail, a.Email)
		}
	}
	add(s)

	// 2. forward-and-keep rules (filters issue)
	s = migrationStep{Name: "forward-and-keep to the old address for users not yet switched", State: stepWaiting,
		Found: "the box cannot read forward rules yet (needs the filters feature)",
		Next:  "until the filters feature lands, keep a copy at the old provider by forwarding there instead"}
	n := 0
	for _, a := range accs {
		if to, known := forwardRuleOf(ctx, st, a); known {
			n++
			s.Detail = append(s.Detail, a.Email+" forwards to "+to)
		}
	}
	if n > 0 && n == len(accs) {
		s.State, s.Found, s.Next = stepDone, fmt.Sprintf("%d of %d users forward a copy", n, len(accs)), ""
	}
	add(s)

	// 3. SPF relaxed to include the box; 7. hardened.
	spf := findResult(results, "SPF")
	sw := findResult(results, "switch-over")
	s = migrationStep{Name: "SPF includes the box", State: stepToDo, Found: "no SPF result"}
	if len(spf) > 0 {
		s.Found = spf[0].Found
		s.Next = spf[0].Fix
		allOK := true
		for _, r := range spf {
			allOK = allOK && r.Level == dnsrecords.OK
		}
		if allOK {
			s.State, s.Next = stepDone, ""
		}
	}
	add(s)

	// 4. DKIM
	s = migrationStep{Name: "DKIM record published and matching", State: stepToDo, Found: "no DKIM key for this domain",
		Next: "boxmail dkim show " + d}
	if dk := findResult(results, "DKIM"); len(dk) > 0 {
		s.Found, s.Next = dk[0].Found, dk[0].Fix
		if dk[0].Level == dnsrecords.OK {
			s.State, s.Next = stepDone, ""
		}
	}
	add(s)

	// 5. MX through each resolver.
	s = migrationStep{Name: "MX points at the box", State: stepToDo, Next: fmt.Sprintf("replace the MX records of %s by MX @ 10 %s.", d, host)}
	if len(servers) == 0 {
		servers = []string{""}
	}
	yes := 0
	for _, srv := range servers {
		r := resolver.System()
		name := "system resolver"
		if srv != "" {
			r = &resolver.Net{Servers: []string{srv}}
			name = srv
		}
		r.Timeout = timeout
		mxs, err := resolver.LookupMX(ctx, r, d)
		var hosts []string
		box := len(mxs) > 0
		for _, m := range mxs {
			hosts = append(hosts, m.Host)
			box = box && m.Host == host
		}
		switch {
		case err != nil:
			s.Detail = append(s.Detail, name+": "+err.Error())
		case box:
			yes++
			s.Detail = append(s.Detail, name+": "+strings.Join(hosts, ", "))
		default:
			s.Detail = append(s.Detail, name+": "+strings.Join(hosts, ", ")+" (not the box)")
		}
	}
	s.Found = fmt.Sprintf("propagated to %d of %d resolvers", yes, len(servers))
	switch {
	case yes == len(servers):
		s.State, s.Next = stepDone, ""
	case yes > 0:
		s.State, s.Next = stepWaiting, "wait for the change to reach every resolver (the old record's TTL)"
	}
	add(s)

	// 6. users switched over
	s = migrationStep{Name: "every user switched over (first login at the box, forward rule removed)", State: stepWaiting,
		Found: "no user has logged in at the box yet", Next: "ask each user to set up their mail app with the box (autoconfig does most of it)"}
	switched, forwarding := 0, 0
	for _, a := range accs {
		t, ok := firstLoginOf(ctx, st, a)
		if !ok {
			s.Detail = append(s.Detail, a.Email+": no login at the box yet")
			continue
		}
		switched++
		line := a.Email + ": first login " + t.Local().Format("2006-01-02 15:04")
		if _, fwd := forwardRuleOf(ctx, st, a); fwd {
			forwarding++
			line += ", still forwards a copy (remove it: boxmail forward remove " + a.Email + ")"
		}
		s.Detail = append(s.Detail, line)
	}
	if switched > 0 {
		s.Found = fmt.Sprintf("%d of %d users logged in at the box", switched, len(accs))
	}
	if len(accs) > 0 && switched == len(accs) && forwarding == 0 {
		s.State, s.Next = stepDone, ""
	} else if switched == len(accs) && forwarding > 0 {
		s.Next = "remove the forward rules of the users who switched"
	}
	add(s)

	// 7. SPF hardened
	s = migrationStep{Name: "SPF hardened to the box alone", State: stepToDo, Found: "no SPF result", Next: "boxmail spf harden " + d}
	if len(sw) > 0 {
		s.Found = sw[0].Found
		if sw[0].Level == dnsrecords.OK {
			s.State, s.Next = stepDone, ""
		} else if sw[0].Fix != "" {
			s.Next = sw[0].Fix
		}
	}
	add(s)

	// 8. old mailboxes imported
	s = migrationStep{Name: "old mailboxes imported", State: stepToDo, Next: "boxmail migrate import EMAIL --from imaps://OLD-IMAP-HOST --user OLD-LOGIN (or --all --plan FILE)"}
	imported := 0
	for _, a := range accs {
		runs, err := st.ImportRuns(ctx, a.ID)
		if err != nil || len(runs) == 0 {
			s.Detail = append(s.Detail, a.Email+": not imported")
			continue
		}
		last := runs[len(runs)-1]
		switch {
		case last.Verified:
			imported++
			s.Detail = append(s.Detail, fmt.Sprintf("%s: done %s from %s (%d copied, %d already present)", a.Email, last.Finished.Format("2006-01-02 15:04"), last.Source, last.Copied, last.Present))
		case last.Finished.IsZero():
			s.Detail = append(s.Detail, fmt.Sprintf("%s: interrupted or running since %s: run it again to finish", a.Email, last.Started.Format("2006-01-02 15:04")))
		default:
			s.Detail = append(s.Detail, fmt.Sprintf("%s: not complete (%d failed): run it again", a.Email, last.Failed))
		}
	}
	s.Found = fmt.Sprintf("%d of %d users imported", imported, len(accs))
	if imported == len(accs) && len(accs) > 0 {
		s.State, s.Next = stepDone, ""
	} else if imported > 0 {
		s.State = stepWaiting
	}
	add(s)
	return steps
}
