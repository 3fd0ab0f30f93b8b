package admin

// The switch-over checklist of 'boxmail migrate status' and the admin
// panel's Migration page: where each hosted domain stands in the seed
// document's move from the old provider, measured where it can be
// (accounts, forward rules, DNS, first logins, imports). Measuring asks
// DNS servers, and records the day each step was first seen done.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"boxmail/internal/dnsrecords"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// Step states of the checklist.
const (
	StepDone    = "done"
	StepWaiting = "waiting"
	StepToDo    = "to do"
)

// MigrationStep is one step of a domain's switch-over checklist.
type MigrationStep struct {
	N      int       `json:"n"`
	Name   string    `json:"name"`
	State  string    `json:"state"` // StepDone, StepWaiting or StepToDo
	Found  string    `json:"found"`
	Next   string    `json:"next,omitempty"`   // the command or DNS change to make
	Since  time.Time `json:"since,omitzero"`   // first seen done
	Detail []string  `json:"detail,omitempty"` // per user or per resolver
}

// MigrationDomain is the checklist of one hosted domain.
type MigrationDomain struct {
	Domain string          `json:"domain"`
	Steps  []MigrationStep `json:"steps"`
}

// ErrNoMigration is Migration on a Service without Options.Records.
var ErrNoMigration = errors.New("the migration checklist is not available on this server")

// MeasuresMigration says whether Migration is available (Options.Records
// is set).
func (s *Service) MeasuresMigration() bool { return s.o.Records != nil }

// NotSwitched returns, per hosted domain, the enabled accounts that have
// not switched to the box yet: they never logged in there (IMAP, POP3,
// SMTP, ManageSieve or the web), so they still read and send through the
// old provider, and a hardened SPF record would fail their mail. A domain
// whose accounts all switched has an empty list (never a missing one).
func (s *Service) NotSwitched(ctx context.Context) (map[string][]string, error) {
	ds, err := s.st.Domains(ctx)
	if err != nil {
		return nil, err
	}
	accounts, err := s.st.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	logins, err := s.st.AllLogins(ctx)
	if err != nil {
		return nil, err
	}
	disabled, err := s.st.DisabledAccounts(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, d := range ds {
		out[strings.ToLower(d.Name)] = []string{}
	}
	for _, a := range accounts {
		_, domain, _ := strings.Cut(strings.ToLower(a.Email), "@")
		list, hosted := out[domain]
		if _, in := logins[a.ID]; in || !hosted || disabled[strings.ToLower(a.Email)] {
			continue
		}
		out[domain] = append(list, a.Email)
	}
	return out, nil
}

// Migration measures the checklist of each of domains (nil: every hosted
// domain), each DNS query with timeout, and records the dates steps were
// first seen done.
func (s *Service) Migration(ctx context.Context, domains []string, timeout time.Duration) ([]MigrationDomain, error) {
	if s.o.Records == nil {
		return nil, ErrNoMigration
	}
	if domains == nil {
		ds, err := s.st.Domains(ctx)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			domains = append(domains, d.Name)
		}
	}
	set, in, err := s.o.Records(ctx)
	if err != nil {
		return nil, err
	}
	accounts, err := s.st.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	notSwitched, err := s.NotSwitched(ctx)
	if err != nil {
		return nil, err
	}
	m := measure{s: s, host: strings.ToLower(strings.TrimSuffix(s.o.Hostname, ".")), servers: s.o.Resolvers, timeout: timeout}
	out := []MigrationDomain{}
	for _, d := range domains {
		m.domain, m.accs, m.notSwitched = d, nil, notSwitched[d]
		m.results = dnsrecords.Check(ctx, s.resolver(timeout), set, in, dnsrecords.CheckOptions{Domains: []string{d}, NotSwitched: notSwitched})
		for _, a := range accounts {
			if strings.HasSuffix(a.Email, "@"+d) {
				m.accs = append(m.accs, a)
			}
		}
		steps, err := s.markDone(ctx, d, m.steps(ctx))
		if err != nil {
			return nil, err
		}
		out = append(out, MigrationDomain{Domain: d, Steps: steps})
	}
	return out, nil
}

// markDone records the steps done now and sets the day each done step
// was first seen done.
func (s *Service) markDone(ctx context.Context, domain string, steps []MigrationStep) ([]MigrationStep, error) {
	var done []string
	for _, st := range steps {
		if st.State == StepDone {
			done = append(done, st.Name)
		}
	}
	if err := s.st.MarkMigrationSteps(ctx, domain, done); err != nil {
		return nil, err
	}
	since, err := s.st.MigrationSteps(ctx, domain)
	if err != nil {
		return nil, err
	}
	for i := range steps {
		if steps[i].State == StepDone {
			steps[i].Since = since[steps[i].Name]
		}
	}
	return steps, nil
}

// measure is one domain's measurement.
type measure struct {
	s      *Service
	domain string
	host   string // the box's hostname, lower case without the final dot
	accs   []store.Account
	// notSwitched are the domain's accounts that never logged in at
	// the box (Service.NotSwitched): they still send through the old
	// provider.
	notSwitched []string
	results     []dnsrecords.Result
	servers     []string // the resolvers MX propagation is checked at
	timeout     time.Duration
}

// steps are the checklist's eight steps, numbered.
func (m *measure) steps(ctx context.Context) []MigrationStep {
	steps := []MigrationStep{m.accounts(), m.forwards(ctx), m.spfIncludes(), m.dkim(), m.mx(ctx), m.switched(ctx), m.spfHardened(), m.imported(ctx)}
	var open []string
	for i := range steps {
		steps[i].N = i + 1
		if steps[i].State != StepDone && i != 6 {
			open = append(open, strconv.Itoa(i+1))
		}
	}
	// Only the checklist knows the whole story: SPF hardened is the end
	// of the migration only when every other step is done too.
	if sp := &steps[6]; sp.State == StepDone && len(open) > 0 {
		sp.Found = "SPF is hardened, but the migration is not complete: step " + strings.Join(open, ", ") + " not done"
		sp.Next = "finish the steps not done; until everyone sends through the box, their mail through the old provider fails SPF"
	} else if sp.State == StepDone {
		sp.Found += ": the migration is complete"
	}
	return steps
}

func (m *measure) find(check string) []dnsrecords.Result {
	var out []dnsrecords.Result
	for _, r := range m.results {
		if r.Check == check {
			out = append(out, r)
		}
	}
	return out
}

// forwardRuleOf returns the address an account forwards a copy of its
// mail to with an enabled forward-and-keep rule of its active Sieve script
// (made by 'boxmail forward add' or a ManageSieve client), if any.
func (m *measure) forwardRuleOf(ctx context.Context, acc store.Account) (to string, known bool) {
	sc, err := m.s.st.ActiveSieveScript(ctx, acc.ID)
	if err != nil {
		return "", false
	}
	_, rules := splitSieveRules(sc.Content)
	for _, r := range rules {
		if r.Enabled && strings.Contains(r.Text, "redirect :copy") {
			if t := redirectTarget(r.Text); t != "" {
				return t, true
			}
		}
	}
	return "", false
}

// firstLoginOf is the hook for "the user switched over": the first login
// the box recorded for the account (IMAP, POP3, SMTP, ManageSieve or the
// web; store.FirstLogin), known false when it never logged in.
func (m *measure) firstLoginOf(ctx context.Context, acc store.Account) (t time.Time, known bool) {
	l, err := m.s.st.FirstLogin(ctx, acc.ID)
	if err != nil {
		return time.Time{}, false
	}
	return l.At, true
}

// 1. accounts
func (m *measure) accounts() MigrationStep {
	s := MigrationStep{Name: "accounts created on the box", State: StepToDo, Found: "no accounts",
		Next: "boxmail user add NAME@" + m.domain + " (one per family member)"}
	if len(m.accs) > 0 {
		s.State = StepDone
		s.Found = fmt.Sprintf("%d accounts", len(m.accs))
		for _, a := range m.accs {
			s.Detail = append(s.Detail, a.Email)
		}
	}
	return s
}

// 2. forward-and-keep rules: each user who has not switched yet (no
// login at the box) keeps a copy at the old provider; who switched needs
// none.
func (m *measure) forwards(ctx context.Context) MigrationStep {
	s := MigrationStep{Name: "forward-and-keep to the old address for users not yet switched", State: StepToDo}
	waiting, forwarding := 0, 0
	for _, a := range m.accs {
		to, fwd := m.forwardRuleOf(ctx, a)
		if fwd {
			s.Detail = append(s.Detail, a.Email+" forwards to "+to)
		}
		if _, switched := m.firstLoginOf(ctx, a); switched {
			continue
		}
		waiting++
		if fwd {
			forwarding++
		} else {
			s.Detail = append(s.Detail, a.Email+": not switched yet and no forward rule")
		}
	}
	switch {
	case waiting == 0:
		s.State, s.Found = StepDone, "every user has switched to the box: no forward needed"
	case forwarding == waiting:
		s.State, s.Found = StepDone, fmt.Sprintf("%d of %d users not yet switched forward a copy", forwarding, waiting)
	default:
		s.Found = fmt.Sprintf("%d of %d users not yet switched forward a copy", forwarding, waiting)
		s.Next = "boxmail forward add EMAIL --to OLD_ADDRESS (for each user listed without a rule)"
	}
	return s
}

// 3. SPF relaxed to include the box
func (m *measure) spfIncludes() MigrationStep {
	s := MigrationStep{Name: "SPF includes the box", State: StepToDo, Found: "no SPF result"}
	if spf := m.find("SPF"); len(spf) > 0 {
		s.Found = spf[0].Found
		s.Next = spf[0].Fix
		allOK := true
		for _, r := range spf {
			allOK = allOK && r.Level == dnsrecords.OK
		}
		if allOK {
			s.State, s.Next = StepDone, ""
		}
	}
	return s
}

// 4. DKIM
func (m *measure) dkim() MigrationStep {
	s := MigrationStep{Name: "DKIM record published and matching", State: StepToDo, Found: "no DKIM key for this domain",
		Next: "boxmail dkim show " + m.domain}
	if dk := m.find("DKIM"); len(dk) > 0 {
		s.Found, s.Next = dk[0].Found, dk[0].Fix
		if dk[0].Level == dnsrecords.OK {
			s.State, s.Next = StepDone, ""
		}
	}
	return s
}

// 5. MX through each resolver
func (m *measure) mx(ctx context.Context) MigrationStep {
	s := MigrationStep{Name: "MX points at the box", State: StepToDo, Next: fmt.Sprintf("replace the MX records of %s by MX @ 10 %s.", m.domain, m.host)}
	servers := m.servers
	if len(servers) == 0 {
		servers = []string{""}
	}
	yes := 0
	for _, srv := range servers {
		r, name := resolver.Servers(nil), "system resolver"
		if srv != "" {
			r, name = resolver.Servers([]string{srv}), srv
		}
		r.Timeout = m.timeout
		mxs, err := resolver.LookupMX(ctx, r, m.domain)
		var hosts []string
		box := len(mxs) > 0
		for _, x := range mxs {
			hosts = append(hosts, x.Host)
			box = box && x.Host == m.host
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
		s.State, s.Next = StepDone, ""
	case yes > 0:
		s.State, s.Next = StepWaiting, "wait for the change to reach every resolver (the old record's TTL)"
	}
	return s
}

// 6. users switched over
func (m *measure) switched(ctx context.Context) MigrationStep {
	s := MigrationStep{Name: "every user switched over (first login at the box, forward rule removed)", State: StepWaiting,
		Found: "no user has logged in at the box yet", Next: "ask each user to set up their mail app with the box (autoconfig does most of it)"}
	switched, forwarding := 0, 0
	for _, a := range m.accs {
		t, ok := m.firstLoginOf(ctx, a)
		if !ok {
			s.Detail = append(s.Detail, a.Email+": no login at the box yet")
			continue
		}
		switched++
		line := a.Email + ": first login " + t.Local().Format("2006-01-02 15:04")
		if _, fwd := m.forwardRuleOf(ctx, a); fwd {
			forwarding++
			line += ", still forwards a copy (remove it: boxmail forward remove " + a.Email + ")"
		}
		s.Detail = append(s.Detail, line)
	}
	if switched > 0 {
		s.Found = fmt.Sprintf("%d of %d users logged in at the box", switched, len(m.accs))
	}
	if len(m.accs) > 0 && switched == len(m.accs) && forwarding == 0 {
		s.State, s.Next = StepDone, ""
	} else if switched == len(m.accs) && forwarding > 0 {
		s.Next = "remove the forward rules of the users who switched"
	}
	return s
}

// 7. SPF hardened: done only when the box alone may send, strictly, and
// no user still sends through the old provider (the switch-over check
// is told who has not switched).
func (m *measure) spfHardened() MigrationStep {
	s := MigrationStep{Name: "SPF hardened to the box alone", State: StepToDo, Found: "no SPF result", Next: "boxmail spf harden " + m.domain}
	if sw := m.find("switch-over"); len(sw) > 0 {
		s.Found = sw[0].Found
		if sw[0].Level == dnsrecords.OK && len(m.notSwitched) == 0 {
			s.State, s.Next = StepDone, ""
		} else if sw[0].Fix != "" {
			s.Next = sw[0].Fix
		}
	}
	if len(m.notSwitched) > 0 {
		if s.State != StepDone && s.Next == "boxmail spf harden "+m.domain {
			s.Next = "wait: harden only once every user sends through the box"
		}
		for _, a := range m.notSwitched {
			s.Detail = append(s.Detail, a+": not switched yet (no login at the box): still sends through the old provider, which SPF must keep authorising")
		}
	}
	return s
}

// 8. old mailboxes imported
func (m *measure) imported(ctx context.Context) MigrationStep {
	s := MigrationStep{Name: "old mailboxes imported", State: StepToDo, Next: "boxmail migrate import EMAIL --from imaps://OLD-IMAP-HOST --user OLD-LOGIN (or --all --plan FILE)"}
	imported := 0
	for _, a := range m.accs {
		all, err := m.s.st.ImportRuns(ctx, a.ID)
		var runs []store.ImportRun
		for _, r := range all {
			if r.Mail() {
				runs = append(runs, r)
			}
		}
		s.Detail = append(s.Detail, davImportDetail(a.Email, all)...)
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
	s.Found = fmt.Sprintf("%d of %d users imported", imported, len(m.accs))
	if imported == len(m.accs) && len(m.accs) > 0 {
		s.State, s.Next = StepDone, ""
	} else if imported > 0 {
		s.State = StepWaiting
	}
	return s
}
