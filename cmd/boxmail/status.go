package main

// 'boxmail status': the world checked against the box.

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/dnsrecords"
)

// cmdStatus checks the world against the box: DNS records through the
// configured resolvers, the TLS certificate, and the ports.
func cmdStatus(e *env, args []string) (err error) {
	var dir string
	var noPorts bool
	var timeout time.Duration
	fs := newFlags(e, "status", &dir)
	fs.BoolVar(&noPorts, "no-ports", false, "skip the check that the box's ports answer")
	fs.DurationVar(&timeout, "timeout", 3*time.Second, "timeout of each DNS query and connection")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("status takes at most one DOMAIN")
	}
	cfg, st, err := openBox(dir)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	ctx := context.Background()
	set, in, err := buildRecords(ctx, dir, st, cfg)
	if err != nil {
		return err
	}
	opts := dnsrecords.CheckOptions{Host: true, DNSBL: cfg.DNSBL}
	if len(pos) == 1 {
		d := strings.ToLower(strings.TrimSuffix(pos[0], "."))
		if ok, err := st.IsLocalDomain(ctx, d); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("domain %s is not hosted here", d)
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
	}{{"SMTP", cfg.SMTPPort}, {"submission", cfg.SubmissionPort}, {"submissions", cfg.SubmissionsPort}, {"IMAP", cfg.IMAPPort}, {"IMAPS", cfg.IMAPSPort}, {"POP3", cfg.POP3Port}, {"POP3S", cfg.POP3SPort}, {"DNS", cfg.DNSPort}} {
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
		c.Close()
		out = append(out, dnsrecords.Result{Level: dnsrecords.OK, Subject: cfg.Hostname, Check: check, Found: p.name + " answers at " + addr})
	}
	return out
}
