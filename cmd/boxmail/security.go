package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"text/tabwriter"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/guard"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// newGuard builds the shared defences from the config.
func newGuard(cfg config.Config, st *store.Store, res resolver.Resolver, log *slog.Logger) (*guard.Guard, error) {
	s := cfg.Security
	return guard.New(context.Background(), guard.Options{
		Store: st, Resolver: res, Logger: log,
		Allow: s.AuthAllow, Trusted: cfg.TrustedNetworks,
		MaxFailures: s.AuthMaxFailures, Window: s.AuthWindow, BlockTimes: s.AuthBlockTimes,
		AccountFailures: s.AuthAccountFailures, FailureDelay: s.AuthFailureDelay,
		MaxConnsPerIP: s.MaxConnsPerIP, MaxConns: s.MaxConns, GreetWait: max(s.GreetWait, 0),
		Greylist: s.Greylisting, GreylistDelay: s.GreylistDelay, GreylistExpiry: s.GreylistExpiry,
		DNSBL: s.SMTPDNSBL,
	})
}

// webRefusal is the answer of the web ports to a connection over the
// limits (inside TLS on HTTPS).
func webRefusal() string {
	body := "Too many connections from your address, try again later.\n"
	return fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 60\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// guardListener puts a front-end's listener (by its name in serve) under
// the connection limits, with that protocol's refusal. HTTP and HTTPS
// count together (one "web" protocol). The DNS server is not limited
// here.
func guardListener(g *guard.Guard, name string, implicitTLS bool, ln net.Listener, tlsConf *tls.Config) net.Listener {
	var o guard.ListenOptions
	switch name {
	case "SMTP":
		o = guard.ListenOptions{Proto: "smtp", Refuse: "421 4.7.0 Too many connections from your address, try again later\r\n",
			EarlyTalker: "554 5.5.1 Protocol error: you talked before the greeting\r\n"}
	case "submission", "submissions":
		o = guard.ListenOptions{Proto: "submission", Refuse: "421 4.7.0 Too many connections from your address, try again later\r\n"}
	case "IMAP", "IMAPS":
		o = guard.ListenOptions{Proto: "imap", Refuse: "* BYE [UNAVAILABLE] Too many connections from your address, try again later\r\n"}
	case "POP3", "POP3S":
		o = guard.ListenOptions{Proto: "pop3", Refuse: "-ERR [SYS/TEMP] Too many connections from your address, try again later\r\n"}
	case "HTTP", "HTTPS":
		o = guard.ListenOptions{Proto: "web", Refuse: webRefusal()}
	case "ManageSieve":
		o = guard.ListenOptions{Proto: "managesieve", Refuse: "BYE (TRYLATER) \"Too many connections from your address\"\r\n"}
	default:
		return ln
	}
	if implicitTLS {
		o.TLS = tlsConf
	}
	return g.Listener(ln, o)
}

// cmdSecurity lists and lifts login blocks.
func cmdSecurity(e *env, args []string) error {
	sub, args, err := subcommand(args, "security", "blocked", "unblock")
	if err != nil {
		return err
	}
	var dir string
	fs := newFlags(e, "security "+sub, &dir)
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	var net string
	switch {
	case sub == "blocked" && len(pos) != 0:
		return usagef("security blocked takes no arguments")
	case sub == "unblock":
		if len(pos) != 1 {
			return usagef("security unblock takes one IP address")
		}
		p, ok := guard.ParseClientNet(pos[0])
		if !ok {
			return usagef("%q is not an IP address", pos[0])
		}
		net = p.String()
	}
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	if sub == "unblock" {
		if err := newAdmin(st).Unblock(ctx, net); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s is not blocked", net)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "unblocked %s: its logins are counted from zero again\n", net)
		return nil
	}
	bs, err := st.AuthBlocks(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NETWORK\tBLOCKED UNTIL\tBLOCK\tREASON")
	n := 0
	for _, b := range bs {
		if !now.Before(b.Until) {
			continue
		}
		n++
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", b.Net, b.Until.Format(time.RFC3339), b.Level, b.Reason)
	}
	if n == 0 {
		fmt.Fprintln(e.stdout, "no client is blocked")
		return nil
	}
	return tw.Flush()
}
