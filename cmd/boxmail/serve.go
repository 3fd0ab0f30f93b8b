package main

// 'boxmail init', 'boxmail quickstart' and 'boxmail serve': creating a
// data dir, and running every configured server until a signal
// (servers.go builds each one from the config).

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"boxmail/internal/admin"
	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/guard"
	"boxmail/internal/netserve"
	"boxmail/internal/safefile"
	"boxmail/internal/store"
)

func generatePassword() string {
	b := make([]byte, 12)
	rand.Read(b)
	return strings.NewReplacer("+", "x", "/", "y").Replace(base64.RawStdEncoding.EncodeToString(b))
}

// initBox creates a data dir: config, self-signed certificate, domain and
// admin account. It refuses a dir that already has a config. On failure it
// removes what it created.
func initBox(dir string, cfg config.Config, domain, admin, password string) (err error) {
	if _, err := os.Stat(filepath.Join(dir, config.FileName)); err == nil {
		return fmt.Errorf("%s already holds a boxmail config; use 'boxmail serve --dir %s'", dir, dir)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	created := false
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	defer func() {
		if err != nil && created {
			if rerr := os.RemoveAll(dir); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	if err := newCerts(dir, cfg, nil).WriteSelfSigned(cfg.Hostname, "localhost", "127.0.0.1", "::1"); err != nil {
		return err
	}
	st, err := store.Open(context.Background(), dir, store.Options{URL: cfg.StoreURL, BodyStore: cfg.BodyStore})
	if err != nil {
		return err
	}
	if err := addDomainAndAdmin(st, domain, admin, password); err != nil {
		return errors.Join(err, st.Close())
	}
	if err := st.Close(); err != nil {
		return err
	}
	// The config goes last: its presence marks a complete data dir.
	return safefile.Write(filepath.Join(dir, config.FileName), cfg.Format(), 0o600)
}

// addDomainAndAdmin adds a new box's first domain and admin account.
func addDomainAndAdmin(st *store.Store, domain, email, password string) error {
	ctx := context.Background()
	adm := newAdmin(st)
	if err := adm.AddDomain(ctx, domain); err != nil && !errors.Is(err, store.ErrExists) {
		return err
	}
	a, err := delivery.ParseAddress(email)
	if err != nil {
		return err
	}
	return adm.AddAccount(ctx, a, password, true)
}

func cmdInit(e *env, args []string) error {
	var hostname, domain, adminAddr, pwFile, storeURL string
	dir, pos, err := parseWith(e, "init", args, func(fs *flag.FlagSet) {
		fs.StringVar(&storeURL, "store-url", "", "keep the box's store in this PostgreSQL database, postgres://USER:PASS@HOST:PORT/DB (default: the embedded SQLite store in the data dir)")
		fs.StringVar(&hostname, "hostname", "", "the box's host name, e.g. box.example.net (required)")
		fs.StringVar(&domain, "domain", "", "the first mail domain, e.g. example.net (required)")
		fs.StringVar(&adminAddr, "admin", "", "the first admin account, e.g. admin@example.net (required)")
		fs.StringVar(&pwFile, "password-file", "", "read the admin password from this file (default: generate one and print it)")
	})
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	if hostname == "" || domain == "" || adminAddr == "" {
		return usagef("--hostname, --domain and --admin are required")
	}
	if hostname, err = delivery.ParseHostedDomain(hostname); err != nil {
		return usagef("--hostname: %v", err)
	}
	if domain, err = delivery.ParseHostedDomain(domain); err != nil {
		return usagef("--domain: %v", err)
	}
	a, err := delivery.ParseAddress(adminAddr)
	if err != nil {
		return usagef("--admin: %v", err)
	}
	if a.Domain != domain {
		return usagef("--admin %s is not in --domain %s", a, domain)
	}
	if err := store.CheckURL(storeURL); err != nil {
		return usagef("--store-url: %v", err)
	}
	password := generatePassword()
	if pwFile != "" {
		if password, err = readPassword(e, pwFile); err != nil {
			return err
		}
		if err := admin.CheckPassword(password, a); err != nil {
			return err
		}
	}
	cfg := initConfig(hostname)
	cfg.StoreURL = storeURL
	if err := initBox(dir, cfg, domain, a.String(), password); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created %s for %s (host %s)\nadmin account: %s\n", dir, domain, hostname, a)
	if pwFile == "" {
		fmt.Fprintf(e.stdout, "password:      %s\n", password)
	}
	if publicHostname(hostname) {
		fmt.Fprintf(e.stdout, "certificates: from Let's Encrypt once the DNS records point here (acme = on; self-signed until then)\n")
	} else {
		fmt.Fprintf(e.stdout, "certificates: self-signed (%s is not a public name; acme = on in boxmail.conf for a public one)\n", hostname)
	}
	fmt.Fprintf(e.stdout, "start it with: boxmail serve --dir %s\n", dir)
	return nil
}

// portFlags lets serve and quickstart override the configured ports:
// one --NAME-port flag per server; a flag not given keeps the config's.
type portFlags map[string]int

// portFlagList names each port flag, what it is and where it lives in the
// config.
var portFlagList = []struct {
	name, usage string
	field       func(*config.Config) *int
}{
	{"smtp", "inbound SMTP port", func(c *config.Config) *int { return &c.SMTPPort }},
	{"submission", "submission (STARTTLS) port", func(c *config.Config) *int { return &c.SubmissionPort }},
	{"submissions", "submission (implicit TLS) port", func(c *config.Config) *int { return &c.SubmissionsPort }},
	{"imap", "IMAP (STARTTLS) port", func(c *config.Config) *int { return &c.IMAPPort }},
	{"imaps", "IMAPS port", func(c *config.Config) *int { return &c.IMAPSPort }},
	{"pop3", "POP3 (STLS) port", func(c *config.Config) *int { return &c.POP3Port }},
	{"pop3s", "POP3S port", func(c *config.Config) *int { return &c.POP3SPort }},
	{"dns", "authoritative DNS port (UDP and TCP)", func(c *config.Config) *int { return &c.DNSPort }},
	{"http", "plain HTTP port (redirects to HTTPS; autoconfig)", func(c *config.Config) *int { return &c.HTTPPort }},
	{"https", "HTTPS port (admin panel, account pages, /setup)", func(c *config.Config) *int { return &c.HTTPSPort }},
	{"managesieve", "ManageSieve port (filters from mail clients)", func(c *config.Config) *int { return &c.Sieve.ManageSievePort }},
}

// register adds the --*-port flags.
func (p portFlags) register(fs *flag.FlagSet) {
	for _, f := range portFlagList {
		fs.Func(f.name+"-port", f.usage+" (`N`; 0 turns it off; default: as in boxmail.conf)", func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 65535 {
				return fmt.Errorf("a port is a number from 0 to 65535, not %q", v)
			}
			p[f.name] = n
			return nil
		})
	}
	p.registerMetricsPort(fs) // metrics.go
}

func (p portFlags) apply(c *config.Config) {
	for _, f := range portFlagList {
		if v, ok := p[f.name]; ok {
			*f.field(c) = v
		}
	}
	p.applyMetricsPort(c) // metrics.go
}

func cmdServe(e *env, args []string) error {
	pf := portFlags{}
	dir, pos, err := parseWith(e, "serve", args, pf.register)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	cfg, err := loadConfig(dir)
	if err != nil {
		return err
	}
	pf.apply(&cfg)
	if err := cfg.Validate(); err != nil {
		return err
	}
	return serve(e, dir, cfg, nil)
}

const quickstartPasswordFile = "quickstart-password"

func cmdQuickstart(e *env, args []string) error {
	var domain, res, storeURL string
	pf := portFlags{}
	dir, pos, err := parseWith(e, "quickstart", args, func(fs *flag.FlagSet) {
		fs.StringVar(&domain, "domain", "example.test", "mail domain of the demo box")
		fs.StringVar(&storeURL, "store-url", "", "create the demo box's store in this PostgreSQL database, postgres://USER:PASS@HOST:PORT/DB (default: the embedded SQLite store in the data dir)")
		fs.StringVar(&res, "resolver", "", "recursive DNS server ip[:port] for mail to other domains (default: only the box's own DNS server, so a trial sends no DNS query off the machine and outside mail waits in the queue)")
		pf.register(fs)
	})
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	if domain, err = delivery.ParseHostedDomain(domain); err != nil {
		return usagef("--domain: %v", err)
	}
	if err := store.CheckURL(storeURL); err != nil {
		return usagef("--store-url: %v", err)
	}
	me := "me@" + domain
	pwPath := filepath.Join(dir, quickstartPasswordFile)
	if _, err := os.Stat(filepath.Join(dir, config.FileName)); errors.Is(err, os.ErrNotExist) {
		if err := createDemoBox(dir, domain, me, pwPath, storeURL); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created a demo box in %s\n", dir)
	} else if err != nil {
		return err
	}
	cfg, err := quickstartConfig(dir, pf, res)
	if err != nil {
		return err
	}
	if storeURL != "" && storeURL != cfg.StoreURL {
		return usagef("--store-url: the box in %s was created with another store (store_url in its %s)", dir, config.FileName)
	}
	pw, _ := os.ReadFile(pwPath)
	banner := func(addrs map[string]string) {
		fmt.Fprintf(e.stdout, "\nboxmail quickstart is running (data in %s)\n", dir)
		fmt.Fprintf(e.stdout, "  account:   %s\n  password:  %s\n", me, strings.TrimSpace(string(pw)))
		for _, k := range []string{"SMTP", "submission", "submissions", "IMAP", "IMAPS", "POP3", "POP3S", "DNS", "HTTP", "HTTPS", "ManageSieve", "metrics"} {
			if a, ok := addrs[k]; ok {
				fmt.Fprintf(e.stdout, "  %-12s %s\n", k+":", a)
			}
		}
		if a, ok := addrs["HTTPS"]; ok {
			certNote := "the certificate is self-signed"
			if cfg.ACME.On {
				certNote = "certificates come from " + cfg.ACME.CA + "; self-signed until they arrive"
			}
			fmt.Fprintf(e.stdout, "  admin panel: https://%s/admin (log in as %s, the box's admin; %s)\n", a, me, certNote)
			fmt.Fprintf(e.stdout, "  set up a phone or mail app: https://%s/setup\n", a)
		}
		fmt.Fprintf(e.stdout, "Press Ctrl-C to stop.\n")
	}
	return serve(e, dir, cfg, banner)
}

// createDemoBox makes quickstart's data dir: loopback high ports, a
// generated password kept in a file, a shared family alias.
func createDemoBox(dir, domain, me, pwPath, storeURL string) (err error) {
	cfg := config.Default("mail." + domain)
	cfg.StoreURL = storeURL
	cfg.Listen = "127.0.0.1"
	cfg.SMTPPort, cfg.SubmissionPort, cfg.SubmissionsPort, cfg.IMAPPort, cfg.IMAPSPort = 2525, 2587, 2465, 1143, 1993
	cfg.DNSPort = 5353
	cfg.Resolvers = []string{loopbackDNS(cfg.DNSPort)} // a trial asks only its own DNS server
	cfg.Sieve.ManageSievePort = 14190
	cfg.HTTPPort, cfg.HTTPSPort = 8080, 8443
	cfg.POP3Port, cfg.POP3SPort = 1110, 1995
	cfg.MetricsListen = quickstartMetricsAddr
	// A trial box on loopback: no greylisting and no blocklist queries
	// (the login limiter stays on; its allow-list is empty, so it can
	// be tried from another loopback address).
	cfg.Security.Greylisting = false
	cfg.Security.SMTPDNSBL = nil
	cfg.PublicIPv4 = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	cfg.InsecureAuth = true
	pw := generatePassword()
	if err := initBox(dir, cfg, domain, me, pw); err != nil {
		return err
	}
	if err := safefile.Write(pwPath, []byte(pw+"\n"), 0o600); err != nil {
		return err
	}
	st, err := store.Open(context.Background(), dir, store.Options{URL: cfg.StoreURL, BodyStore: cfg.BodyStore})
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	// The seed document's favourite alias: a shared family address.
	return newAdmin(st).AddAlias(context.Background(), store.Alias{Address: "family@" + domain, Targets: []string{me}, Permit: []string{me}})
}

// quickstartConfig is the demo box's config with the command line's
// ports and resolver, written back to boxmail.conf when they change it,
// so every later command (status, dns records, dkim activate) sees the
// box as it runs.
func quickstartConfig(dir string, pf portFlags, res string) (config.Config, error) {
	cfg, err := config.Load(dir)
	if err != nil {
		return cfg, err
	}
	before := cfg.Format()
	ownDNS := slices.Equal(cfg.Resolvers, []string{loopbackDNS(cfg.DNSPort)})
	pf.apply(&cfg)
	quickstartResolvers(&cfg, res, ownDNS)
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	if after := cfg.Format(); !bytes.Equal(before, after) {
		if err := safefile.Write(filepath.Join(dir, config.FileName), after, 0o600); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// loopbackDNS is the address of a demo box's own DNS server.
func loopbackDNS(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// quickstartResolvers points a trial box's lookups at --resolver, else
// at its own DNS server (ownDNS: the config already named it, perhaps on
// a port the flags just changed), so a trial sends no DNS query off the
// machine.
func quickstartResolvers(cfg *config.Config, res string, ownDNS bool) {
	switch {
	case res != "":
		if _, _, err := net.SplitHostPort(res); err != nil {
			res = net.JoinHostPort(res, "53")
		}
		cfg.Resolvers = []string{res}
	case (ownDNS || len(cfg.Resolvers) == 0) && cfg.DNSPort > 0:
		cfg.Resolvers = []string{loopbackDNS(cfg.DNSPort)}
	}
}

// server is what serve runs: every front-end has Serve and Shutdown.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// listener is one configured server: its name in logs and the banner,
// its port (0: off) and whether it speaks TLS from the first byte.
type listener struct {
	name string
	port int
	tls  bool
	srv  server
}

// running is a server with its open listener.
type running struct {
	listener
	ln net.Listener
}

// serve opens the store, starts every configured server, and runs until
// SIGINT/SIGTERM, then shuts down cleanly.
func serve(e *env, dir string, cfg config.Config, banner func(map[string]string)) (err error) {
	log := newLogger(e.stderr, cfg)
	startProfiler(e, log)
	setMemoryLimit(cfg)
	roots, err := acmeRoots(dir, cfg)
	if err != nil {
		return err
	}
	certs := newCerts(dir, cfg, log.With("pkg", "tls")) // follows the files
	if err := certs.Load(); err != nil {
		return err
	}
	tlsConf := certs.TLSConfig()
	m := newMetrics(cfg, log.With("pkg", "metrics")) // metrics.go; nil when off
	st, err := store.Open(context.Background(), dir, store.Options{Logger: log.With("pkg", "store"), OnCommit: commitObserver(m), URL: cfg.StoreURL, BodyStore: cfg.BodyStore})
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	if err := st.CheckTOTPKey(context.Background()); err != nil { // a node without the box's keys/totp.key must not make its own
		return err
	}
	certs.Share(st) // several nodes: one orders, all serve the same certificates (certs storage.go, mirror.go)
	readMetrics(m, dir, st, certs)
	b, err := newBox(dir, cfg, st, certs, log, m)
	if err != nil {
		return err
	}
	defer startBackupSchedule(dir, cfg, st, b.deliverer, b.queue, log.With("pkg", "backup"))() // backup.go
	defer startBlobSweep(st, b.queue, log.With("pkg", "store"))()                              // singleton.go
	// The free-space gate, the history and the status mail (statusmail.go).
	defer startHealth(dir, cfg, st, b.deliverer, b.queue, newResolver(cfg), certs, log.With("pkg", "health"))()
	// Signals are caught before the first port opens: a client (or a
	// test) that sees a port may stop the box at once and get a clean exit.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	rs, addrs, err := listenAll(cfg, b.servers, b.guard, tlsConf)
	if err != nil {
		return err
	}
	if rs, err = listenMetrics(cfg, m, rs, addrs); err != nil {
		return err
	}
	if cfg.ACME.On { // in the background: the CA is never waited for
		done := make(chan struct{})
		if err := startACME(cfg, st, b, certs, roots, log.With("pkg", "tls"), done); err != nil {
			log.Error("ACME: starting failed; the self-signed certificate is served for the names without an ACME one", "err", err)
		}
		defer func() { close(done); certs.StopACME() }()
	}
	return runServers(log, rs, addrs, b.queue, sig, banner)
}

// setMemoryLimit gives the Go runtime the config's memory_limit, a soft
// limit near which the garbage collector works harder, so that bursts of
// large messages are collected before the box grows. GOMEMLIMIT, when
// set, wins (the runtime has read it already).
func setMemoryLimit(cfg config.Config) {
	if os.Getenv("GOMEMLIMIT") != "" || cfg.Security.MemoryLimit <= 0 {
		return
	}
	debug.SetMemoryLimit(cfg.Security.MemoryLimit)
}

// listenAll opens the port of every configured server (under the
// connection limits, TLS for the implicit-TLS ones). It tries every port,
// so one start names every conflict, and on any error closes what it
// opened.
func listenAll(cfg config.Config, all []listener, grd *guard.Guard, tlsConf *tls.Config) ([]running, map[string]string, error) {
	var rs []running
	var errs []error
	addrs := map[string]string{}
	for _, l := range all {
		if l.port == 0 {
			continue
		}
		ln, err := listenOne(cfg, l, grd, tlsConf)
		if err != nil {
			errs = append(errs, listenError(l, err))
			continue
		}
		rs = append(rs, running{l, ln})
		addrs[l.name] = ln.Addr().String()
	}
	if len(errs) > 0 {
		for _, r := range rs {
			_ = r.ln.Close() // never served: nothing to flush
		}
		return nil, nil, errors.Join(errs...)
	}
	return rs, addrs, nil
}

// listenOne opens one server's port (and its UDP port for DNS).
func listenOne(cfg config.Config, l listener, grd *guard.Guard, tlsConf *tls.Config) (net.Listener, error) {
	addr := net.JoinHostPort(cfg.Listen, strconv.Itoa(l.port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ln = guardListener(grd, l.name, l.tls, ln, tlsConf) // connection limits
	if l.tls {
		ln = tls.NewListener(ln, tlsConf)
	}
	if u, ok := l.srv.(interface{ ListenPacket(string) error }); ok { // DNS: UDP too
		if err := u.ListenPacket(addr); err != nil {
			_ = ln.Close() // never served
			return nil, err
		}
	}
	return ln, nil
}

// listenError says which server could not open its port and, when
// another program holds it, what to do.
func listenError(l listener, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s: port %d is already in use by another program (another boxmail?): stop it, or choose another port with --%s-port or in boxmail.conf", l.name, l.port, strings.ToLower(l.name))
	}
	return fmt.Errorf("%s: %w", l.name, err)
}

// runServers serves until a signal or a server's failure, then shuts
// every server down and the queue after them.
func runServers(log *slog.Logger, rs []running, addrs map[string]string, queue *delivery.Queue, sig <-chan os.Signal, banner func(map[string]string)) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(rs))
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.srv.Serve(r.ln); err != nil && !errors.Is(err, netserve.ErrServerClosed) {
				errs <- fmt.Errorf("%s: %w", r.name, err)
			}
		}()
		log.Info("listening", "server", r.name, "addr", addrs[r.name])
	}
	queue.Start()
	if banner != nil {
		banner(addrs)
	}
	var runErr error
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	case runErr = <-errs:
		log.Error("server failed, shutting down", "err", runErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var swg sync.WaitGroup
	for _, r := range rs {
		swg.Add(1)
		go func() {
			defer swg.Done()
			if err := r.srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				log.Warn("shutdown", "server", r.name, "err", err)
			}
		}()
	}
	swg.Wait()
	wg.Wait()
	// Deliveries in progress may finish; the rest stays queued.
	if err := queue.Shutdown(ctx); err != nil {
		log.Warn("queue shutdown", "err", err)
	}
	log.Info("stopped")
	return runErr
}
