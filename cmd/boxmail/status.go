package main

// 'boxmail status': the world checked against the box.

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"boxmail/internal/certs"
	"boxmail/internal/config"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// cmdStatus checks the world against the box: DNS records through the
// configured resolvers, the TLS certificate, and the ports.
func cmdStatus(e *env, args []string) error {
	var noPorts, mail bool
	var timeout time.Duration
	dir, pos, err := parseWith(e, "status", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&noPorts, "no-ports", false, "skip the check that the box's ports answer")
		fs.BoolVar(&mail, "mail", false, "mail the admin the outcome when it changed since the last status mail (what serve does every status_mail_interval)")
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
		var domains []string
		if len(pos) == 1 {
			d, err := hostedDomain(ctx, st, pos[0])
			if err != nil {
				return err
			}
			domains = []string{d}
		}
		r := newResolver(cfg)
		r.Timeout = timeout
		fmt.Fprintf(e.stdout, "asking %s\n\n", describeResolver(cfg, r))
		cm := newCerts(dir, cfg, nil)
		cm.ReadACMEFrom(st) // several nodes: the box's ACME certificates
		results, err := checkBox(ctx, dir, cfg, st, r, cm, domains)
		if err != nil {
			return err
		}
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
		if mail {
			if err := statusMailNow(ctx, e, dir, cfg, st, results); err != nil {
				return err
			}
		}
		if n := count[dnsrecords.Fail]; n > 0 {
			return fmt.Errorf("%d check(s) failed", n)
		}
		return nil
	})
}

// checkBox is what 'boxmail status' and the admin panel's Status page
// check, the same way: the DNS records of the box's domains (domains: all
// when nil) and the certificate.
func checkBox(ctx context.Context, dir string, cfg config.Config, st *store.Store, r resolver.Resolver, cm *certs.Manager, domains []string) ([]dnsrecords.Result, error) {
	set, in, err := buildRecords(ctx, dir, st, cfg)
	if err != nil {
		return nil, err
	}
	notSwitched, err := newAdmin(st).NotSwitched(ctx) // SPF is not "hardened" while a user still sends through the old provider
	if err != nil {
		return nil, err
	}
	out := dnsrecords.Check(ctx, r, set, in, dnsrecords.CheckOptions{Host: true, DNSBL: cfg.DNSBL, Domains: domains, NotSwitched: notSwitched})
	names, err := acmeNames(ctx, st, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.ACME.On {
		out = append(out, acmeChallenges(cfg))
	}
	out = append(out, machineChecks(ctx, dir, cfg, st, r, 0, time.Now())...) // health.go
	out = append(out, backupCheck(ctx, dir, st, cfg.Hostname, time.Now()))
	out = append(out, dnssecChecks(ctx, dir, st, cfg, set, 3*time.Second)...)
	out = append(out, daneCheck(ctx, cfg, r, cm, in, 3*time.Second))
	rc, err := reportChecks(ctx, st, in, time.Now()) // reportcheck.go
	if err != nil {
		return nil, err
	}
	out = append(out, rc...)
	return append(out, cm.Checks(names)...), nil
}

// describeResolver says which DNS servers the checks ask and where that
// choice comes from.
func describeResolver(cfg config.Config, r *resolver.Net) string {
	if len(cfg.Resolvers) > 0 {
		return fmt.Sprintf("the DNS servers of 'resolvers' in boxmail.conf: %s", strings.Join(r.Servers, ", "))
	}
	return fmt.Sprintf("the system's DNS servers (/etc/resolv.conf): %s; set 'resolvers' in boxmail.conf to choose", strings.Join(r.Servers, ", "))
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
