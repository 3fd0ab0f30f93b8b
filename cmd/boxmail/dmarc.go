package main

// 'boxmail dmarc report': what the DMARC and TLS aggregate reports other
// mail systems sent to postmaster say about the box's domains
// (internal/reports reads them, delivery keeps them in the store).
// 'boxmail dmarc send-reports': the box's own DMARC and TLS aggregate
// reports queued now rather than at serve's daily pass
// (delivery.Queue.SendReports); the running server delivers them.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/reports"
	"boxmail/internal/store"
)

func dmarcCommands() []subcommand {
	return []subcommand{
		{name: "report", args: "[--days N]", summary: "what the DMARC and TLS reports received in the last N days (default 7) say about the box's domains", run: dmarcReport},
		{name: "send-reports", args: "[--now]", summary: "queue the box's DMARC and TLS aggregate reports of past days now (serve sends them daily); --now: today's so far too", run: dmarcSendReports},
	}
}

func dmarcReport(e *env, args []string) error {
	days := 7
	dir, _, err := parseArgs(e, "dmarc report", args, 0, func(fs *flag.FlagSet) {
		fs.IntVar(&days, "days", 7, "look at the reports of the last N days")
	})
	if err != nil {
		return err
	}
	if days <= 0 || days > 3660 {
		return usagef("--days must be between 1 and 3660")
	}
	return withBox(dir, func(_ config.Config, st *store.Store) error {
		ctx := context.Background()
		since := time.Now().Add(-time.Duration(days) * 24 * time.Hour)
		for _, k := range []struct {
			kind  reports.Kind
			title string
		}{{reports.DMARC, "DMARC aggregate reports"}, {reports.TLS, "TLS reports (RFC 8460)"}} {
			kept, err := st.ReceivedReports(ctx, string(k.kind), since)
			if err != nil {
				return err
			}
			var rs []reports.Report
			for _, s := range kept {
				var r reports.Report
				if err := json.Unmarshal(s.Data, &r); err != nil {
					return fmt.Errorf("report %s from %s: %w", s.ReportID, s.Org, err)
				}
				rs = append(rs, r)
			}
			fmt.Fprintf(e.stdout, "%s, last %d days: %d\n", k.title, days, len(rs))
			for _, s := range reports.Summarize(rs) {
				fmt.Fprintf(e.stdout, "  %s\n", s)
			}
		}
		return nil
	})
}

func dmarcSendReports(e *env, args []string) error {
	var today bool
	dir, _, err := parseArgs(e, "dmarc send-reports", args, 0, func(fs *flag.FlagSet) {
		fs.BoolVar(&today, "now", false, "report today's mail and TLS sessions so far too")
	})
	if err != nil {
		return err
	}
	return withBox(dir, func(cfg config.Config, st *store.Store) error {
		log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		d, err := newDeliverer(dir, cfg, st, newResolver(cfg), log, nil)
		if err != nil {
			return err
		}
		tls, dmarc, err := d.Queue().SendReports(context.Background(), today)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "queued %d DMARC aggregate report(s) and %d TLS report(s)\n", dmarc, tls)
		return nil
	})
}
