package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

func cmdQueue(e *env, args []string) error {
	sub, args, err := subcommand(args, "queue", "list", "retry", "remove")
	if err != nil {
		return err
	}
	var dir string
	var all, silent bool
	fs := newFlags(e, "queue "+sub, &dir)
	if sub == "retry" {
		fs.BoolVar(&all, "all", false, "retry every entry now")
	}
	if sub == "remove" {
		fs.BoolVar(&silent, "silent", false, "do not send the sender a bounce")
	}
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	var id int64
	switch {
	case sub == "list" && len(pos) != 0:
		return usagef("queue list takes no arguments")
	case sub == "retry" && all && len(pos) != 0:
		return usagef("queue retry takes an ID or --all, not both")
	case sub == "retry" && !all, sub == "remove":
		if len(pos) != 1 {
			return usagef("queue %s takes one queue ID", sub)
		}
		if id, err = strconv.ParseInt(pos[0], 10, 64); err != nil || id <= 0 {
			return usagef("queue ID %q is not a positive number", pos[0])
		}
	}
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	switch sub {
	case "list":
		q, err := st.Queue(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSENDER\tRECIPIENTS\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
		for _, it := range q {
			fmt.Fprintf(tw, "%d\t<%s>\t%s\t%d\t%s\t%s\n", it.ID, it.Sender, strings.Join(it.Recipients, ","), it.Attempts, it.NextAttempt.Format(time.RFC3339), it.LastError)
		}
		return tw.Flush()
	case "retry":
		n, err := newAdmin(st).RetryQueued(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d queue entries will be retried now\n", n)
	case "remove":
		cfg, err := config.Load(dir)
		if err != nil {
			return err
		}
		if err := newBoxAdmin(dir, cfg, st, nil, nil).RemoveQueued(ctx, id, silent); err != nil {
			return err
		}
		if silent {
			fmt.Fprintf(e.stdout, "removed queue entry %d\n", id)
		} else {
			fmt.Fprintf(e.stdout, "removed queue entry %d and told its sender\n", id)
		}
	}
	return nil
}

// newDeliverer builds serve's Deliverer from the config: Sieve filtering,
// signed bounces and the outbound queue runner (Deliverer.Queue).
func newDeliverer(dir string, cfg config.Config, st *store.Store, res resolver.Resolver, log *slog.Logger) (*delivery.Deliverer, error) {
	sieve, err := sieveOptions(dir, cfg) // forward.go
	if err != nil {
		return nil, err
	}
	o := cfg.Outbound
	qo := delivery.QueueOptions{
		Resolver: res, Transports: o.Transports,
		Retry: o.Retry, Lifetime: o.Lifetime, DelayWarning: o.DelayWarning,
		MaxConnections: o.MaxConnections, MaxPerDomain: o.MaxPerDomain,
		Logger: log.With("pkg", "queue"),
	}
	if o.Smarthost != "" {
		pw, err := o.SmarthostPassword(dir)
		if err != nil {
			return nil, err
		}
		qo.Smarthost = &delivery.Smarthost{Addr: o.Smarthost, TLS: o.SmarthostTLS, Username: o.SmarthostUser, Password: pw}
	}
	return delivery.New(delivery.Options{Store: st, Logger: log.With("pkg", "delivery"), Hostname: cfg.Hostname,
		SignBounces: true, Sieve: &sieve, Queue: &qo}), nil
}
