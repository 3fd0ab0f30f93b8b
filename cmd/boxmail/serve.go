package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/imapd"
	"boxmail/internal/managesieve"
	"boxmail/internal/netserve"
	"boxmail/internal/pop3d"
	"boxmail/internal/resolver"
	"boxmail/internal/smtpd"
	"boxmail/internal/store"
)

// writeFileSync writes a file durably: temp file, fsync, rename, fsync
// of the directory. Every file boxmail writes outside the store goes
// through it.
func writeFileSync(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// selfSignedCert makes a 10-year ECDSA certificate for the names.
func selfSignedCert(names []string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[0], Organization: []string{"boxmail self-signed"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

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
			os.RemoveAll(dir)
		}
	}()
	certPEM, keyPEM, err := selfSignedCert([]string{cfg.Hostname, "localhost", "127.0.0.1", "::1"})
	if err != nil {
		return err
	}
	if err := writeFileSync(config.Path(dir, cfg.TLSCert), certPEM, 0o644); err != nil {
		return err
	}
	if err := writeFileSync(config.Path(dir, cfg.TLSKey), keyPEM, 0o600); err != nil {
		return err
	}
	st, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := newAdmin(st).AddDomain(ctx, domain); err != nil && !errors.Is(err, store.ErrExists) {
		st.Close()
		return err
	}
	if err := addFirstAdmin(ctx, st, admin, password); err != nil {
		st.Close()
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	// The config goes last: its presence marks a complete data dir.
	return writeFileSync(filepath.Join(dir, config.FileName), cfg.Format(), 0o600)
}

func cmdInit(e *env, args []string) error {
	var dir, hostname, domain, admin, pwFile string
	fs := newFlags(e, "init", &dir)
	fs.StringVar(&hostname, "hostname", "", "the box's host name, e.g. box.example.net (required)")
	fs.StringVar(&domain, "domain", "", "the first mail domain, e.g. example.net (required)")
	fs.StringVar(&admin, "admin", "", "the first admin account, e.g. admin@example.net (required)")
	fs.StringVar(&pwFile, "password-file", "", "read the admin password from this file (default: generate one and print it)")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if hostname == "" || domain == "" || admin == "" {
		return usagef("--hostname, --domain and --admin are required")
	}
	if hostname, err = delivery.ParseHostedDomain(hostname); err != nil {
		return usagef("--hostname: %v", err)
	}
	if domain, err = delivery.ParseHostedDomain(domain); err != nil {
		return usagef("--domain: %v", err)
	}
	a, err := delivery.ParseAddress(admin)
	if err != nil {
		return usagef("--admin: %v", err)
	}
	if a.Domain != domain {
		return usagef("--admin %s is not in --domain %s", a, domain)
	}
	password := generatePassword()
	if pwFile != "" {
		if password, err = readPassword(e, pwFile); err != nil {
			return err
		}
		if err := checkPassword(password, a); err != nil {
			return err
		}
	}
	if err := initBox(dir, config.Default(hostname), domain, a.String(), password); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created %s for %s (host %s)\nadmin account: %s\n", dir, domain, hostname, a)
	if pwFile == "" {
		fmt.Fprintf(e.stdout, "password:      %s\n", password)
	}
	fmt.Fprintf(e.stdout, "start it with: boxmail serve --dir %s\n", dir)
	return nil
}

// portFlags lets serve and quickstart override the configured ports.
type portFlags struct {
	smtp, submission, submissions, imap, imaps, dns int
	http, https                                     int
	pop3, pop3s                                     int
}

// register adds the --*-port flags; -1 means "as configured".
func (p *portFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&p.smtp, "smtp-port", -1, "inbound SMTP port (overrides the config)")
	fs.IntVar(&p.submission, "submission-port", -1, "submission (STARTTLS) port")
	fs.IntVar(&p.submissions, "submissions-port", -1, "submission (implicit TLS) port")
	fs.IntVar(&p.imap, "imap-port", -1, "IMAP (STARTTLS) port")
	fs.IntVar(&p.imaps, "imaps-port", -1, "IMAPS port")
	fs.IntVar(&p.dns, "dns-port", -1, "authoritative DNS port (UDP and TCP)")
	fs.IntVar(&p.http, "http-port", -1, "plain HTTP port (redirects to HTTPS; autoconfig)")
	fs.IntVar(&p.https, "https-port", -1, "HTTPS port (admin panel, account pages, /setup)")
	fs.IntVar(&p.pop3, "pop3-port", -1, "POP3 (STLS) port")
	fs.IntVar(&p.pop3s, "pop3s-port", -1, "POP3S port")
}

func (p *portFlags) apply(c *config.Config) {
	for _, x := range []struct {
		v   int
		dst *int
	}{{p.smtp, &c.SMTPPort}, {p.submission, &c.SubmissionPort}, {p.submissions, &c.SubmissionsPort}, {p.imap, &c.IMAPPort}, {p.imaps, &c.IMAPSPort}, {p.dns, &c.DNSPort}, {p.http, &c.HTTPPort}, {p.https, &c.HTTPSPort}, {p.pop3, &c.POP3Port}, {p.pop3s, &c.POP3SPort}} {
		if x.v >= 0 {
			*x.dst = x.v
		}
	}
}

func cmdServe(e *env, args []string) error {
	var dir string
	var pf portFlags
	fs := newFlags(e, "serve", &dir)
	pf.register(fs)
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	cfg, err := config.Load(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no %s in %s: create the box with 'boxmail init' first", config.FileName, dir)
	} else if err != nil {
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
	var dir, domain string
	var pf portFlags
	fs := newFlags(e, "quickstart", &dir)
	var res string
	fs.StringVar(&domain, "domain", "example.test", "mail domain of the demo box")
	fs.StringVar(&res, "resolver", "", "recursive DNS server ip[:port] for mail to other domains (default: only the box's own DNS server, so a trial sends no DNS query off the machine and outside mail waits in the queue)")
	pf.register(fs)
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if domain, err = delivery.ParseHostedDomain(domain); err != nil {
		return usagef("--domain: %v", err)
	}
	me := "me@" + domain
	pwPath := filepath.Join(dir, quickstartPasswordFile)
	if _, err := os.Stat(filepath.Join(dir, config.FileName)); errors.Is(err, os.ErrNotExist) {
		cfg := config.Default("mail." + domain)
		cfg.Listen = "127.0.0.1"
		cfg.SMTPPort, cfg.SubmissionPort, cfg.SubmissionsPort, cfg.IMAPPort, cfg.IMAPSPort = 2525, 2587, 2465, 1143, 1993
		cfg.DNSPort = 5353
		cfg.Sieve.ManageSievePort = 14190
		cfg.HTTPPort, cfg.HTTPSPort = 8080, 8443
		cfg.POP3Port, cfg.POP3SPort = 1110, 1995
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
		if err := writeFileSync(pwPath, []byte(pw+"\n"), 0o600); err != nil {
			return err
		}
		st, err := store.Open(context.Background(), dir, store.Options{})
		if err != nil {
			return err
		}
		// The seed document's favourite alias: a shared family address.
		err = newAdmin(st).AddAlias(context.Background(), store.Alias{Address: "family@" + domain, Targets: []string{me}, Permit: []string{me}})
		st.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created a demo box in %s\n", dir)
	} else if err != nil {
		return err
	}
	cfg, err := config.Load(dir)
	if err != nil {
		return err
	}
	pf.apply(&cfg)
	switch {
	case res != "":
		if _, _, err := net.SplitHostPort(res); err != nil {
			res = net.JoinHostPort(res, "53")
		}
		cfg.Resolvers = []string{res}
	case len(cfg.Resolvers) == 0 && cfg.DNSPort > 0:
		cfg.Resolvers = []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.DNSPort))}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	pw, _ := os.ReadFile(pwPath)
	banner := func(addrs map[string]string) {
		fmt.Fprintf(e.stdout, "\nboxmail quickstart is running (data in %s)\n", dir)
		fmt.Fprintf(e.stdout, "  account:   %s\n  password:  %s\n", me, strings.TrimSpace(string(pw)))
		for _, k := range []string{"SMTP", "submission", "submissions", "IMAP", "IMAPS", "POP3", "POP3S", "DNS", "HTTP", "HTTPS", "ManageSieve"} {
			if a, ok := addrs[k]; ok {
				fmt.Fprintf(e.stdout, "  %-12s %s\n", k+":", a)
			}
		}
		fmt.Fprintf(e.stdout, "Press Ctrl-C to stop.\n")
	}
	return serve(e, dir, cfg, banner)
}

// server is what serve runs: every front-end has Serve and Shutdown.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// serve opens the store, starts every configured server, and runs until
// SIGINT/SIGTERM, then shuts down cleanly.
func serve(e *env, dir string, cfg config.Config, banner func(map[string]string)) error {
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	startProfiler(e, log)
	certs, err := loadCertFiles(dir, cfg, log.With("pkg", "tls")) // certs.go: follows the files
	if err != nil {
		return err
	}
	tlsConf := certs.TLSConfig()

	st, err := store.Open(context.Background(), dir, store.Options{Logger: log.With("pkg", "store")})
	if err != nil {
		return err
	}
	defer st.Close()
	var dnsResolver resolver.Resolver = resolver.System()
	if len(cfg.Resolvers) > 0 {
		dnsResolver = &resolver.Net{Servers: cfg.Resolvers}
	}
	deliverer, err := newDeliverer(dir, cfg, st, dnsResolver, log) // queue.go
	if err != nil {
		return err
	}
	queue := deliverer.Queue()
	grd, err := newGuard(cfg, st, dnsResolver, log.With("pkg", "guard")) // security.go
	if err != nil {
		return err
	}
	pop3Backend := pop3d.NewStoreBackend(st) // one maildrop lock for POP3 and POP3S
	pop3Opts := func(name string) pop3d.Options {
		return pop3d.Options{Backend: pop3Backend, Logger: log.With("pkg", "pop3d", "server", name), TLSConfig: tlsConf,
			InsecureAuth: cfg.InsecureAuth, Guard: grd}
	}

	type listener struct {
		name string
		port int
		tls  bool
		srv  server
	}
	smtpOpts := func(mode smtpd.Mode, name string) smtpd.Options {
		return smtpd.Options{
			Mode: mode, Deliverer: deliverer, Store: st, Logger: log.With("pkg", "smtpd", "server", name),
			Hostname: cfg.Hostname, TLSConfig: tlsConf, MaxMessageBytes: cfg.MaxMessageBytes, MaxRecipients: cfg.MaxRecipients,
			Resolver: dnsResolver, TrustedNetworks: cfg.TrustedNetworks, Guard: grd,
		}
	}
	imapOpts := func(name string) imapd.Options {
		return imapd.Options{Store: st, Logger: log.With("pkg", "imapd", "server", name), TLSConfig: tlsConf,
			InsecureAuth: cfg.InsecureAuth, Hostname: cfg.Hostname, Guard: grd, ImplicitTLS: name == "imaps", MaxMessageBytes: cfg.MaxMessageBytes}
	}
	all := []listener{
		{"SMTP", cfg.SMTPPort, false, smtpd.New(smtpOpts(smtpd.Inbound, "smtp"))},
		{"submission", cfg.SubmissionPort, false, smtpd.New(smtpOpts(smtpd.Submission, "submission"))},
		{"submissions", cfg.SubmissionsPort, true, smtpd.New(smtpOpts(smtpd.Submission, "submissions"))},
		{"IMAP", cfg.IMAPPort, false, imapd.New(imapOpts("imap"))},
		{"IMAPS", cfg.IMAPSPort, true, imapd.New(imapOpts("imaps"))},
		{"POP3", cfg.POP3Port, false, pop3d.New(pop3Opts("pop3"))},
		{"POP3S", cfg.POP3SPort, true, pop3d.New(pop3Opts("pop3s"))},
		{"DNS", cfg.DNSPort, false, newDNSServer(dir, st, cfg, log.With("pkg", "dnsd"))},
		{"ManageSieve", cfg.Sieve.ManageSievePort, false, managesieve.New(managesieve.Options{Backend: managesieve.NewStoreBackend(st), Logger: log.With("pkg", "managesieve"),
			TLSConfig: tlsConf, InsecureAuth: cfg.InsecureAuth, MaxRedirects: cfg.Sieve.MaxRedirects, Guard: grd})},
	}
	webSrv := newWebServer(dir, cfg, st, deliverer, queue, dnsResolver, grd, certs, log.With("pkg", "web"))
	all = append(all, listener{"HTTP", cfg.HTTPPort, false, webSrv.Plain()}, listener{"HTTPS", cfg.HTTPSPort, true, webSrv})
	// Signals are caught before the first port opens: a client (or a
	// test) that sees a port may stop the box at once and get a clean exit.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	var running []listener
	var lns []net.Listener
	addrs := map[string]string{}
	for _, l := range all {
		if l.port == 0 {
			continue
		}
		addr := net.JoinHostPort(cfg.Listen, strconv.Itoa(l.port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, o := range lns {
				o.Close()
			}
			return fmt.Errorf("%s: %w", l.name, err)
		}
		ln = guardListener(grd, l.name, l.tls, ln, tlsConf) // connection limits
		if l.name == "IMAP" || l.name == "IMAPS" {
			ln = imapd.CoalesceWrites(ln) // below TLS: one write per burst, not per line
		}
		if l.tls {
			ln = tls.NewListener(ln, tlsConf)
		}
		if u, ok := l.srv.(interface{ ListenPacket(string) error }); ok { // DNS: UDP too
			if err := u.ListenPacket(addr); err != nil {
				ln.Close()
				for _, o := range lns {
					o.Close()
				}
				return fmt.Errorf("%s: %w", l.name, err)
			}
		}
		lns = append(lns, ln)
		running = append(running, l)
		addrs[l.name] = ln.Addr().String()
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(running))
	for i, l := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.srv.Serve(lns[i]); err != nil && !errors.Is(err, netserve.ErrServerClosed) {
				errs <- fmt.Errorf("%s: %w", l.name, err)
			}
		}()
		log.Info("listening", "server", l.name, "addr", addrs[l.name])
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
	for _, l := range running {
		swg.Add(1)
		go func() {
			defer swg.Done()
			if err := l.srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				log.Warn("shutdown", "server", l.name, "err", err)
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
