package main

// ACME wiring of 'boxmail serve': the names the box holds certificates
// for, the CA's trust roots, and starting certs.Manager's ACME client
// with the box's own DNS server answering DNS-01.

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"boxmail/internal/certs"
	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/store"
)

// acmeNames are the names the box holds a certificate for: the hostname
// and, for each hosted domain, autoconfig., autodiscover. and mta-sts.
func acmeNames(ctx context.Context, st *store.Store, cfg config.Config) ([]string, error) {
	names := []string{cfg.Hostname}
	seen := map[string]bool{cfg.Hostname: true}
	domains, err := st.Domains(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range domains {
		for _, p := range []string{"autoconfig.", "autodiscover.", "mta-sts."} {
			if n := p + d.Name; !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names, nil
}

// acmeRoots reads acme_ca_root (nil: the system's roots).
func acmeRoots(dir string, cfg config.Config) (*x509.CertPool, error) {
	if !cfg.ACME.On || cfg.ACME.CARoot == "" {
		return nil, nil
	}
	conf, p := filepath.Join(dir, config.FileName), config.Path(dir, cfg.ACME.CARoot)
	b, err := os.ReadFile(p)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: acme_ca_root: cannot read %s: %w: want a PEM file of the ACME server's root certificates", conf, p, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: acme_ca_root: %s holds no PEM certificate (-----BEGIN CERTIFICATE-----): want a PEM file of the ACME server's root certificates", conf, p)
	}
	return pool, nil
}

// startACME starts getting certificates once the ports are open: DNS-01
// through the box's DNS server when it runs, HTTP-01 when it serves
// port 80, TLS-ALPN-01 when it serves port 443.
// It follows domains added later until done is closed.
func startACME(cfg config.Config, st *store.Store, b *box, cm *certs.Manager, roots *x509.CertPool, log *slog.Logger, done <-chan struct{}) error {
	names, err := acmeNames(context.Background(), st, cfg)
	if err != nil {
		return err
	}
	dns, http, alpn := acmeWays(cfg)
	o := certs.ACMEOptions{Roots: roots, Email: cfg.ACME.Email, Names: names, RenewCheck: cfg.ACME.RenewCheck,
		HTTP: http, TLSALPN: alpn, ListenHost: cfg.Listen, HTTPPort: cfg.HTTPPort, HTTPSPort: cfg.HTTPSPort,
		RenewalFailed: renewalFailed(st, b.deliverer, cfg, log)}
	if dns && b.dns != nil {
		o.DNS = b.dns
		if st.Shared() {
			o.DNS = certs.ShareChallenges(st, b.dns, log) // the CA may ask any node's DNS server
		}
	}
	if err := cm.StartACME(o); err != nil {
		return err
	}
	go followDomains(cfg, st, cm, log, done)
	return nil
}

// sharedChallenges is the DNS server's source of the other nodes' DNS-01
// records: the store's, when several nodes share it (nil otherwise).
func sharedChallenges(st *store.Store) func(context.Context) (map[string][]string, error) {
	if !st.Shared() {
		return nil
	}
	return func(ctx context.Context) (map[string][]string, error) { return st.ACMEChallenges(ctx, time.Now()) }
}

// acmeWays says which challenges the box answers: those acme_challenges
// names, each only where its server runs; by default DNS-01 when the box
// serves DNS, HTTP-01 when it serves port 80 and TLS-ALPN-01 port 443
// (where a CA connects).
func acmeWays(cfg config.Config) (dns, http, alpn bool) {
	if c := cfg.ACME.Challenges; len(c) > 0 {
		return slices.Contains(c, "dns-01") && cfg.DNSPort != 0, slices.Contains(c, "http-01") && cfg.HTTPPort != 0,
			slices.Contains(c, "tls-alpn-01") && cfg.HTTPSPort != 0
	}
	return cfg.DNSPort != 0, cfg.HTTPPort == 80, cfg.HTTPSPort == 443
}

// followDomains gives a domain added while the box runs its names'
// certificates: it checks the store's generation every acme_renew_check (at most 30 seconds).
func followDomains(cfg config.Config, st *store.Store, cm *certs.Manager, log *slog.Logger, done <-chan struct{}) {
	t := time.NewTicker(min(cfg.ACME.RenewCheck, 30*time.Second))
	defer t.Stop()
	var last int64
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		gen, err := st.Generation(ctx)
		if err == nil && gen != last {
			var names []string
			if names, err = acmeNames(ctx, st, cfg); err == nil {
				err = cm.ManageNames(names)
			}
			if err == nil {
				last = gen
			}
		}
		cancel()
		if err != nil {
			log.Warn("ACME: following the domains", "err", err)
		}
	}
}

// acmeChallenges is the status line that says which ACME challenges the
// box can answer and why: DNS-01 through its own DNS server (port 53
// for public CAs), HTTP-01 when it serves port 80, TLS-ALPN-01 when it
// serves 443. The CA's choice among them is recorded per certificate.
func acmeChallenges(cfg config.Config) dnsrecords.Result {
	r := dnsrecords.Result{Level: dnsrecords.OK, Subject: cfg.Hostname, Check: "ACME challenges"}
	dns, http, alpn := acmeWays(cfg)
	chosen := len(cfg.ACME.Challenges) > 0
	var ways []string
	switch {
	case dns && cfg.DNSPort == 53:
		ways = append(ways, "dns-01 (the box's own DNS on port 53 answers _acme-challenge; needs the domains' NS records to name this box)")
	case dns:
		ways = append(ways, fmt.Sprintf("dns-01 (the box's own DNS on port %d: only a CA sent there, or port 53 forwarded to it)", cfg.DNSPort))
	case chosen && slices.Contains(cfg.ACME.Challenges, "dns-01"):
		ways = append(ways, "no dns-01 (named in acme_challenges, but dns_port is 0)")
	case chosen:
		ways = append(ways, "no dns-01 (not in acme_challenges)")
	default:
		ways = append(ways, "no dns-01 (dns_port is 0)")
	}
	ways = append(ways, acmeWebWay("http-01", http, chosen, cfg.HTTPPort, 80), acmeWebWay("tls-alpn-01", alpn, chosen, cfg.HTTPSPort, 443))
	r.Found = "tried in this order: " + strings.Join(ways, "; ")
	if !dns && !http && !alpn {
		r.Level, r.Fix = dnsrecords.Fail, "serve DNS (dns_port = 53), HTTP on port 80 or HTTPS on port 443 so the CA can check the box, or name in acme_challenges the ones a router forwards to the box"
	}
	return r
}

// acmeWebWay is the part of the ACME challenges line about a challenge
// the CA checks by connecting to port want (80 or 443), served by the
// box on port.
func acmeWebWay(name string, on, chosen bool, port, want int) string {
	switch {
	case on && port == want:
		return fmt.Sprintf("%s (port %d)", name, port)
	case on:
		return fmt.Sprintf("%s (port %d, as acme_challenges says: the CA connects to %d, which must be forwarded here)", name, port, want)
	case chosen && port == 0:
		return fmt.Sprintf("no %s (named in acme_challenges, but its port is 0)", name)
	case chosen:
		return fmt.Sprintf("no %s (not in acme_challenges)", name)
	}
	return fmt.Sprintf("no %s (the box serves port %d, the CA connects to %d)", name, port, want)
}

// tellAdmins delivers one message from the box to every admin account's
// mailbox (a failed certificate renewal).
func tellAdmins(st *store.Store, d *delivery.Deliverer, hostname, subject, body string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	accs, err := st.Accounts(ctx)
	if err != nil {
		log.Warn("telling the admins", "err", err)
		return
	}
	from := "postmaster@" + hostname
	for _, a := range accs {
		if !a.Admin {
			continue
		}
		msg := fmt.Sprintf("From: boxmail <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d.acme@%s>\r\nAuto-Submitted: auto-generated\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
			from, a.Email, subject, time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), hostname, strings.ReplaceAll(body, "\n", "\r\n"))
		t := d.Begin("")
		if _, err := t.AddRecipient(ctx, a.Email, false); err != nil {
			t.Abort()
			log.Warn("telling an admin", "admin", a.Email, "err", err)
			continue
		}
		if err := t.Commit(ctx, []byte(msg)); err != nil {
			log.Warn("telling an admin", "admin", a.Email, "err", err)
		}
	}
}

// renewalFailed is the message the admins get when renewals fail: the
// failures of the next 10 seconds (the names renewed together) go into
// one message, and there is at most one a day ('boxmail status' and the
// admin panel's Status page show every failure).
func renewalFailed(st *store.Store, d *delivery.Deliverer, cfg config.Config, log *slog.Logger) func(name, msg string) {
	var mu sync.Mutex
	var pending []string
	var sent time.Time
	return func(name, msg string) {
		mu.Lock()
		if !sent.IsZero() && time.Since(sent) < 24*time.Hour {
			mu.Unlock()
			return
		}
		pending = append(pending, fmt.Sprintf("  %s: %s", name, msg))
		first := len(pending) == 1
		if first {
			sent = time.Now()
		}
		mu.Unlock()
		if !first {
			return
		}
		time.Sleep(10 * time.Second) // gather the names that fail together
		mu.Lock()
		lines := pending
		pending = nil
		mu.Unlock()
		body := fmt.Sprintf("These certificates could not be renewed:\n\n%s\n\nThe box keeps serving the current certificates and retries with growing pauses.\n'boxmail status' shows each certificate and how long it is still valid.\nYou get at most one such message a day.\n", strings.Join(lines, "\n"))
		tellAdmins(st, d, cfg.Hostname, "Certificate renewal failed on "+cfg.Hostname, body, log)
	}
}

// reservedSuffixes are names that never get a publicly trusted
// certificate (RFC 2606, 6761, 6762, 8375, and the usual private ones).
var reservedSuffixes = []string{"test", "example", "invalid", "localhost", "local", "internal", "lan", "home", "corp", "localdomain", "home.arpa", "example.com", "example.net", "example.org"}

// publicHostname reports whether a CA could issue a certificate for
// hostname: init turns ACME on for such a box, off for a trial one.
func publicHostname(hostname string) bool {
	h := strings.ToLower(strings.TrimSuffix(hostname, "."))
	if net.ParseIP(h) != nil || !strings.Contains(h, ".") {
		return false
	}
	for _, s := range reservedSuffixes {
		if h == s || strings.HasSuffix(h, "."+s) {
			return false
		}
	}
	return true
}

// initConfig is the config init and install start a box with: ACME on
// when the hostname is public.
func initConfig(hostname string) config.Config {
	cfg := config.Default(hostname)
	cfg.ACME.On = publicHostname(hostname)
	return cfg
}
