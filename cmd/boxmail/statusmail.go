package main

// The status mail (issue 21): the checks of 'boxmail status' run every
// status_mail_interval in serve, and the admin gets a mail when their
// outcome changed since the last mail (a new warning or failure, one
// resolved), as Mail-in-a-Box does; the last mailed outcome is kept in
// the store (health_state "status-mail"). Once a week a usage report
// follows (usage_report). Both are delivered locally through delivery.
// The history the dashboard draws is flushed here every minute.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"boxmail/internal/certs"
	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

const (
	statusMailState  = "status-mail"
	usageReportState = "usage-report"
	usageReportEvery = 7 * 24 * time.Hour
	historyFlush     = time.Minute
	firstStatusMail  = 10 * time.Minute // after serve starts
)

// startHealth sets the free-space gate, flushes the history every
// minute and runs the status mail and usage report; stop ends it (with
// a last flush). Every node flushes its own counts into the shared
// history (they add up); the mails go out from one node (singleton.go).
func startHealth(dir string, cfg config.Config, st *store.Store, d *delivery.Deliverer, q *delivery.Queue, res resolver.Resolver, cm *certs.Manager, log *slog.Logger) (stop func()) {
	st.KeepFree(minFreeSetting(cfg))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A status_mail_interval shorter than the flush (a test's, or an
		// impatient admin's) is honoured: the loop wakes that often.
		tick := time.NewTicker(min(historyFlush, cfg.Health.StatusMailEvery))
		defer tick.Stop()
		next := time.Now().Add(min(firstStatusMail, cfg.Health.StatusMailEvery))
		for {
			select {
			case <-ctx.Done():
				if err := st.FlushHistory(context.Background(), time.Now()); err != nil {
					log.Warn("flushing the history", "err", err)
				}
				return
			case now := <-tick.C:
				if err := st.FlushHistory(ctx, now); err != nil {
					log.Warn("flushing the history", "err", err)
				}
				if now.Before(next) {
					continue
				}
				next = now.Add(cfg.Health.StatusMailEvery)
				singleton(ctx, st, q, "status-mail", log, func(ctx context.Context) {
					if err := healthMail(ctx, dir, cfg, st, d, res, cm, now); err != nil {
						log.Error("status mail", "err", err)
					}
				})
			}
		}
	}()
	return func() { cancel(); <-done }
}

// minFreeSetting is the store's gate from min_free_percent (0: off).
func minFreeSetting(cfg config.Config) float64 {
	if cfg.Health.MinFreePercent == 0 {
		return -1
	}
	return float64(cfg.Health.MinFreePercent)
}

// healthMail runs the checks for the status mail and, when due, the
// usage report.
func healthMail(ctx context.Context, dir string, cfg config.Config, st *store.Store, d *delivery.Deliverer, res resolver.Resolver, cm *certs.Manager, now time.Time) error {
	var errs []error
	if cfg.Health.StatusMail {
		results, err := checkBox(ctx, dir, cfg, st, res, cm, nil)
		if err == nil {
			_, err = statusMail(ctx, cfg, st, d, results, now)
		}
		errs = append(errs, err)
	}
	if cfg.Health.UsageReport {
		_, err := usageReport(ctx, cfg, st, d, now)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// statusKey is the part of a result whose change is news: its level,
// not its text (free space moves every minute).
func statusKey(r dnsrecords.Result) string {
	return string(r.Level) + "\t" + r.Subject + "\t" + r.Check
}

// statusState is the sorted keys of the results that are not ok.
func statusState(results []dnsrecords.Result) []string {
	var out []string
	for _, r := range results {
		if r.Level != dnsrecords.OK {
			out = append(out, statusKey(r))
		}
	}
	sort.Strings(out)
	return out
}

// statusMail mails the admin when the results differ from those of the
// last status mail (nothing kept yet: all ok), and keeps them. It
// reports whether it sent one.
func statusMail(ctx context.Context, cfg config.Config, st *store.Store, d *delivery.Deliverer, results []dnsrecords.Result, now time.Time) (bool, error) {
	last, lastAt, err := st.HealthState(ctx, statusMailState)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	state := statusState(results)
	joined := strings.Join(state, "\n")
	if joined == last {
		return false, nil
	}
	before := map[string]bool{}
	for _, k := range strings.Split(last, "\n") {
		if k != "" {
			before[k] = true
		}
	}
	body := statusMailBody(results, state, before, lastAt)
	count := map[dnsrecords.Level]int{}
	for _, r := range results {
		count[r.Level]++
	}
	subject := fmt.Sprintf("%s status: %d fail, %d warn (changed)", cfg.Hostname, count[dnsrecords.Fail], count[dnsrecords.Warn])
	if err := mailAdmin(ctx, cfg, d, subject, body, now); err != nil {
		return false, err
	}
	return true, st.NoteHealthState(ctx, statusMailState, joined, now)
}

// statusMailBody says what changed, then lists every check.
func statusMailBody(results []dnsrecords.Result, state []string, before map[string]bool, lastAt time.Time) string {
	var b strings.Builder
	since := "the box started being checked"
	if !lastAt.IsZero() {
		since = "the last status mail (" + lastAt.UTC().Format(time.RFC1123) + ")"
	}
	fmt.Fprintf(&b, "What changed since %s:\n\n", since)
	now := map[string]bool{}
	for _, k := range state {
		now[k] = true
	}
	for _, r := range results {
		if k := statusKey(r); now[k] && !before[k] {
			fmt.Fprintf(&b, "  NEW %s  %s %s: %s\n", strings.ToUpper(string(r.Level)), r.Subject, r.Check, r.Found)
			if r.Fix != "" {
				fmt.Fprintf(&b, "      what to do: %s\n", r.Fix)
			}
		}
	}
	var resolved []string
	for k := range before {
		if !now[k] {
			resolved = append(resolved, k)
		}
	}
	sort.Strings(resolved)
	for _, k := range resolved {
		f := strings.SplitN(k, "\t", 3)
		fmt.Fprintf(&b, "  RESOLVED (was %s)  %s %s\n", f[0], f[1], f[2])
	}
	b.WriteString("\nEvery check now:\n\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Level, r.Subject, r.Check, r.Found)
	}
	_ = tw.Flush() // a strings.Builder does not fail
	b.WriteString("\nThe same list: 'boxmail status', or Status checks in the admin panel.\n")
	return b.String()
}

// usageReport mails the admin each account's week, once a week; the
// first run only starts the week.
func usageReport(ctx context.Context, cfg config.Config, st *store.Store, d *delivery.Deliverer, now time.Time) (bool, error) {
	_, at, err := st.HealthState(ctx, usageReportState)
	if errors.Is(err, store.ErrNotFound) {
		return false, st.NoteHealthState(ctx, usageReportState, "", now)
	} else if err != nil {
		return false, err
	}
	if now.Sub(at) < usageReportEvery {
		return false, nil
	}
	body, err := usageReportBody(ctx, st, at, now)
	if err != nil {
		return false, err
	}
	if err := mailAdmin(ctx, cfg, d, cfg.Hostname+" usage this week", body, now); err != nil {
		return false, err
	}
	return true, st.NoteHealthState(ctx, usageReportState, "", now)
}

func usageReportBody(ctx context.Context, st *store.Store, since, now time.Time) (string, error) {
	acts, err := st.Activity(ctx, since)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Use of the box from %s to %s.\n\n", since.UTC().Format(time.DateOnly), now.UTC().Format(time.DateOnly))
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "account\tmailbox size\tin\tout\tspam caught\t\n")
	for _, a := range acts {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t\n", a.Email, sizeText(a.Bytes), a.In, a.Out, a.Spam)
	}
	_ = tw.Flush() // a strings.Builder does not fail
	b.WriteString("\n(in: messages that arrived in folders other than Sent, Drafts, Junk and Trash; out: messages in Sent.)\n")
	b.WriteString("Turn this report off with usage_report = false in boxmail.conf.\n")
	return b.String(), nil
}

// adminAddress is who gets the status mail: admin_email, else
// postmaster (of the first hosted domain, RFC 5321 4.5.1).
func adminAddress(cfg config.Config) string {
	if cfg.Health.AdminEmail != "" {
		return cfg.Health.AdminEmail
	}
	return "postmaster"
}

// mailAdmin delivers a plain-text mail from the box to the admin, into
// INBOX (no filter, no spam verdict moves it).
func mailAdmin(ctx context.Context, cfg config.Config, d *delivery.Deliverer, subject, body string, now time.Time) error {
	txn := d.Begin("")
	route, err := txn.AddRecipient(ctx, adminAddress(cfg), false)
	if err != nil {
		return fmt.Errorf("the admin address %s: %w", adminAddress(cfg), err)
	}
	to := adminAddress(cfg)
	if len(route.Remote) > 0 || !strings.Contains(to, "@") {
		to = "postmaster@" + cfg.Hostname
	}
	var m strings.Builder
	fmt.Fprintf(&m, "From: boxmail <postmaster@%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\n", cfg.Hostname, to, subject, now.Format(time.RFC1123Z))
	fmt.Fprintf(&m, "Message-ID: <%s@%s>\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", strings.ToLower(rand.Text()), cfg.Hostname)
	m.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	txn.SetMailbox("INBOX")
	return txn.Commit(ctx, []byte(m.String()))
}

// statusMailNow is 'boxmail status --mail': the status mail of these
// results, sent when they changed.
func statusMailNow(ctx context.Context, e *env, dir string, cfg config.Config, st *store.Store, results []dnsrecords.Result) error {
	d, err := newDeliverer(dir, cfg, st, newResolver(cfg), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	sent, err := statusMail(ctx, cfg, st, d, results, time.Now())
	if err != nil {
		return err
	}
	if sent {
		fmt.Fprintf(e.stdout, "status mail sent to %s\n", adminAddress(cfg))
	} else {
		fmt.Fprintln(e.stdout, "no status mail: nothing changed since the last one")
	}
	return nil
}
