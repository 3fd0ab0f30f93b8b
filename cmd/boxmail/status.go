package main

// 'boxmail status': the world checked against the box.

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strconv"
	"text/tabwriter"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/store"
)

// cmdStatus checks the world against the box: DNS records through the
// configured resolvers, the TLS certificate, and the ports.
func cmdStatus(e *env, args []string) error {
	var noPorts bool
	var timeout time.Duration
	dir, pos, err := parseWith(e, "status", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&noPorts, "no-ports", false, "skip the check that the box's ports answer")
		fs.DurationVar(&timeout, "timeout", 3*time.Second, "timeout of each DNS query and connection")
	})
	if err != nil {
		return err
	}
	if err := atMostOneDomain("status", pos); err != nil {
		return err
	}
	return withBox(dir, func(cfg config.Config, st *store.Store) error {
		ctx := context.Background()
		set, in, err := buildRecords(ctx, dir, st, cfg)
		if err != nil {
			return err
		}
		opts := dnsrecords.CheckOptions{Host: true, DNSBL: cfg.DNSBL}
		if len(pos) == 1 {
			d, err := hostedDomain(ctx, st, pos[0])
			if err != nil {
				return err
			}
			opts.Domains = []string{d}
		}
		r := newResolver(cfg)
		r.Timeout = timeout
		results := dnsrecords.Check(ctx, r, set, in, opts)
		results = append(results, newCerts(dir, cfg, nil).Check()...)
		if !noPorts {
			results = append(results, checkPorts(cfg, timeout)...)
		}

		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		count := map[dnsrecords.Level]int{}
		for _, res := range results {
			count[res.Level]++
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", res.Level, res.Subject, res.Check, res.Found)
			if res.Fix != "" {
				fmt.Fprintf(tw, "\t\t\tchange: %s\n", res.Fix)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\n%d ok, %d warn, %d fail\n", count[dnsrecords.OK], count[dnsrecords.Warn], count[dnsrecords.Fail])
		if n := count[dnsrecords.Fail]; n > 0 {
			return fmt.Errorf("%d check(s) failed", n)
		}
		return nil
	})
}

// checkPorts connects to each configured port of the box: its public
// address when configured, else the listen address.
func checkPorts(cfg config.Config, timeout time.Duration) []dnsrecords.Result {
	host := cfg.Listen
	if len(cfg.PublicIPv4) > 0 {
		host = cfg.PublicIPv4[0].String()
	} else if len(cfg.PublicIPv6) > 0 {
		host = cfg.PublicIPv6[0].String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	var out []dnsrecords.Result
	for _, p := range []struct {
		name string
		port int
	}{{"SMTP", cfg.SMTPPort}, {"submission", cfg.SubmissionPort}, {"submissions", cfg.SubmissionsPort}, {"IMAP", cfg.IMAPPort}, {"IMAPS", cfg.IMAPSPort},
		{"POP3", cfg.POP3Port}, {"POP3S", cfg.POP3SPort}, {"DNS", cfg.DNSPort}, {"HTTP", cfg.HTTPPort}, {"HTTPS", cfg.HTTPSPort}, {"ManageSieve", cfg.Sieve.ManageSievePort}} {
		if p.port == 0 {
			continue
		}
		addr := net.JoinHostPort(host, strconv.Itoa(p.port))
		check := "port " + strconv.Itoa(p.port)
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			out = append(out, dnsrecords.Result{Level: dnsrecords.Fail, Subject: cfg.Hostname, Check: check, Found: p.name + " at " + addr + " does not answer: " + err.Error(),
				Fix: "start the box ('boxmail serve') and open port " + strconv.Itoa(p.port) + " in the firewall"})
			continue
		}
		_ = c.Close() // a probe: it only had to connect
		out = append(out, dnsrecords.Result{Level: dnsrecords.OK, Subject: cfg.Hostname, Check: check, Found: p.name + " answers at " + addr})
	}
	return out
}
