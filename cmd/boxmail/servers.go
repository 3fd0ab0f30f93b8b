package main

// The servers 'boxmail serve' runs, each built from the config: the
// deliverer and its queue, the guard, SMTP, IMAP, POP3, ManageSieve,
// DNS and the web (the opt-in profiler is in pprof.go).

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"boxmail/internal/certs"
	"boxmail/internal/config"
	"boxmail/internal/dav"
	"boxmail/internal/delivery"
	"boxmail/internal/dnsd"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/guard"
	"boxmail/internal/imapd"
	"boxmail/internal/mailauth"
	"boxmail/internal/managesieve"
	"boxmail/internal/metrics"
	"boxmail/internal/migrate"
	"boxmail/internal/pop3d"
	"boxmail/internal/resolver"
	"boxmail/internal/smtpd"
	"boxmail/internal/spam"
	"boxmail/internal/store"
	"boxmail/internal/web"
	"boxmail/internal/webmail"
)

// box is what serve runs: every configured server, the guard their
// listeners go through and the queue that starts once they listen.
type box struct {
	servers   []listener
	guard     *guard.Guard
	queue     *delivery.Queue
	dns       *dnsServer // answers ACME DNS-01 too
	deliverer *delivery.Deliverer
}

// newBox builds every server of the config over the store.
func newBox(dir string, cfg config.Config, st *store.Store, cm *certs.Manager, log *slog.Logger, m *metrics.Metrics) (*box, error) {
	tlsConf := cm.TLSConfig()
	res := newResolver(cfg)
	deliverer, err := newDeliverer(dir, cfg, st, res, log, m)
	if err != nil {
		return nil, err
	}
	grd, err := newGuard(cfg, st, res, log.With("pkg", "guard"), m)
	if err != nil {
		return nil, err
	}
	pop3Backend := pop3d.NewStoreBackend(st) // one maildrop lock for POP3 and POP3S
	pop3Opts := func(name string) pop3d.Options {
		return pop3d.Options{Backend: pop3Backend, Logger: log.With("pkg", "pop3d", "server", name), TLSConfig: tlsConf,
			InsecureAuth: cfg.InsecureAuth, Guard: grd, Metrics: m}
	}
	dataBudget := smtpd.NewDataBudget(cfg.Security.DataMemoryOr(cfg.MaxMessageBytes)) // one for every SMTP port
	smtpOpts := func(mode smtpd.Mode, name string) smtpd.Options {
		return smtpd.Options{DataBudget: dataBudget,
			Mode: mode, Deliverer: deliverer, Store: st, Logger: log.With("pkg", "smtpd", "server", name),
			Hostname: cfg.Hostname, TLSConfig: tlsConf, MaxMessageBytes: cfg.MaxMessageBytes, MaxRecipients: cfg.MaxRecipients,
			Resolver: res, TrustedNetworks: cfg.TrustedNetworks, Guard: grd, Metrics: m,
		}
	}
	imapOpts := func(name string) imapd.Options {
		return imapd.Options{Store: st, Logger: log.With("pkg", "imapd", "server", name), TLSConfig: tlsConf,
			InsecureAuth: cfg.InsecureAuth, Hostname: cfg.Hostname, Guard: grd, ImplicitTLS: name == "imaps", MaxMessageBytes: cfg.MaxMessageBytes, Metrics: m}
	}
	queue := deliverer.Queue()
	webSrv := newWebServer(dir, cfg, st, deliverer, queue, res, grd, cm, log.With("pkg", "web"))
	dns := newDNSServer(dir, st, cfg, cm, log.With("pkg", "dnsd"), m)
	return &box{guard: grd, queue: queue, dns: dns, deliverer: deliverer, servers: []listener{
		{"SMTP", cfg.SMTPPort, false, smtpd.New(smtpOpts(smtpd.Inbound, "smtp"))},
		{"submission", cfg.SubmissionPort, false, smtpd.New(smtpOpts(smtpd.Submission, "submission"))},
		{"submissions", cfg.SubmissionsPort, true, smtpd.New(smtpOpts(smtpd.Submission, "submissions"))},
		{"IMAP", cfg.IMAPPort, false, imapd.New(imapOpts("imap"))},
		{"IMAPS", cfg.IMAPSPort, true, imapd.New(imapOpts("imaps"))},
		{"POP3", cfg.POP3Port, false, pop3d.New(pop3Opts("pop3"))},
		{"POP3S", cfg.POP3SPort, true, pop3d.New(pop3Opts("pop3s"))},
		{"DNS", cfg.DNSPort, false, dns},
		{"ManageSieve", cfg.Sieve.ManageSievePort, false, managesieve.New(managesieve.Options{Backend: managesieve.NewStoreBackend(st), Logger: log.With("pkg", "managesieve"),
			TLSConfig: tlsConf, InsecureAuth: cfg.InsecureAuth, MaxRedirects: cfg.Sieve.MaxRedirects, Guard: grd})},
		{"HTTP", cfg.HTTPPort, false, webSrv.Plain()},
		{"HTTPS", cfg.HTTPSPort, true, webSrv},
	}}, nil
}

// newDeliverer builds serve's Deliverer from the config: Sieve filtering,
// signed bounces and the outbound queue runner (Deliverer.Queue).
func newDeliverer(dir string, cfg config.Config, st *store.Store, res resolver.Resolver, log *slog.Logger, m *metrics.Metrics) (*delivery.Deliverer, error) {
	sieve, err := sieveOptions(context.Background(), cfg, st)
	if err != nil {
		return nil, err
	}
	o := cfg.Outbound
	qo := delivery.QueueOptions{
		Resolver: res, Transports: o.Transports,
		Retry: o.Retry, Lifetime: o.Lifetime, DelayWarning: o.DelayWarning,
		MaxConnections: o.MaxConnections, MaxPerDomain: o.MaxPerDomain,
		Logger: log.With("pkg", "queue"),
		Node:   store.NodeID(dir),
	}
	qo.Owner = store.NewOwnerIDOf(qo.Node)
	qo.BindIPv4, qo.BindIPv6 = cfg.OutboundBind()
	outboundTestHook(os.Getenv, &qo, log)
	leaseTestHook(os.Getenv, &qo, log) // singleton.go
	if o.Smarthost != "" {
		pw, err := o.SmarthostPassword(dir)
		if err != nil {
			return nil, err
		}
		qo.Smarthost = &delivery.Smarthost{Addr: o.Smarthost, TLS: o.SmarthostTLS, Username: o.SmarthostUser, Password: pw}
	}
	return delivery.New(delivery.Options{Store: st, Logger: log.With("pkg", "delivery"), Hostname: cfg.Hostname,
		SignBounces: true, Sieve: &sieve, Queue: &qo, Spam: spamOptions(cfg), Metrics: m}), nil
}

// spamOptions are the spam filter's options from the config. Off, it
// scores nothing but still learns from moves (the training queue the
// store fills is emptied either way).
func spamOptions(cfg config.Config) *delivery.SpamOptions {
	return &delivery.SpamOptions{NoScoring: !cfg.Spam.Filter, MaxMemory: int64(cfg.Spam.MemoryMiB) << 20, RspamdURL: cfg.Spam.RspamdURL,
		Thresholds: spam.Thresholds{Junk: cfg.Spam.JunkScore, Reject: cfg.Spam.RejectScore, MinTrain: uint32(cfg.Spam.MinTraining)}}
}

// sieveOptions are the config's settings of filtering at delivery.
// The SRS key is the box's, from the store (so every node verifies the
// addresses any node signs).
func sieveOptions(ctx context.Context, cfg config.Config, st *store.Store) (delivery.SieveOptions, error) {
	k, err := st.SRSKey(ctx)
	if err != nil {
		return delivery.SieveOptions{}, err
	}
	return delivery.SieveOptions{
		SRS:          &mailauth.SRS{Key: k, MaxAge: cfg.Sieve.SRSMaxAge},
		MaxRedirects: cfg.Sieve.MaxRedirects, CreateFolders: cfg.Sieve.CreateFolders,
		VacationMaxDays: cfg.Sieve.VacationMaxDays,
		MaxBodyBytes:    cfg.Sieve.BodyLimit, Timeout: cfg.Sieve.RunTimeout,
	}, nil
}

// newGuard builds the shared defences from the config.
func newGuard(cfg config.Config, st *store.Store, res resolver.Resolver, log *slog.Logger, m *metrics.Metrics) (*guard.Guard, error) {
	s := cfg.Security
	return guard.New(context.Background(), guard.Options{
		Store: st, Resolver: res, Logger: log,
		Allow: s.AuthAllow, Trusted: cfg.TrustedNetworks,
		MaxFailures: s.AuthMaxFailures, Window: s.AuthWindow, BlockTimes: s.AuthBlockTimes,
		AccountFailures: s.AuthAccountFailures, FailureDelay: s.AuthFailureDelay,
		MaxConnsPerIP: s.MaxConnsPerIP, MaxConns: s.MaxConns, GreetWait: max(s.GreetWait, 0),
		Greylist: s.Greylisting, GreylistDelay: s.GreylistDelay, GreylistExpiry: s.GreylistExpiry,
		DNSBL: s.SMTPDNSBL, Metrics: m,
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

// dnsServer runs dnsd on the TCP listener serve gives it and on a UDP
// socket of the same address.
type dnsServer struct {
	*dnsd.Server
	pc  net.PacketConn
	log *slog.Logger
}

func newDNSServer(dir string, st *store.Store, cfg config.Config, cm *certs.Manager, log *slog.Logger, m *metrics.Metrics) *dnsServer {
	var mu sync.Mutex
	var tlsa string   // the TLSA of the certificate served at the last load
	var certGen int64 // how many times it changed: the serial grows with it
	return &dnsServer{log: log, Server: dnsd.New(dnsd.Options{
		Logger: log,
		Generation: func(ctx context.Context) (int64, error) {
			gen, err := st.Generation(ctx)
			switchCertIfDue(ctx, cm, log) // dnssec.go: a staged key whose TLSA is out long enough
			mu.Lock()
			defer mu.Unlock()
			if now := strings.Join(boxTLSA(cm, true), ","); now != tlsa {
				if tlsa != "" {
					certGen++ // a new certificate key: its TLSA records at once
				}
				tlsa = now
			}
			return gen + certGen, err
		},
		Records: func(ctx context.Context, gen int64) (*dnsrecords.Set, error) {
			in, err := recordInputWith(ctx, dir, st, cfg, gen, cm, true)
			if err != nil {
				return nil, err
			}
			set, err := dnsrecords.Build(in)
			if err == nil {
				notePublished(cm, in, log) // dnssec.go
			}
			return set, err
		},
		// Loopback cannot be spoofed from outside, and benchmarks run there.
		RateLimitExempt:  []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		Metrics:          m,
		Keys:             st,
		KeyDir:           dnssecDir(dir),
		SharedChallenges: sharedChallenges(st), // acme.go
		ParentDS:         dnsParentDS(cfg),
		Secondaries:      dnsSecondaries(cfg, log),
	})}
}

// ListenPacket opens the UDP socket; serve calls it next to the TCP
// listener so that a port in use fails before anything starts.
func (d *dnsServer) ListenPacket(addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	d.pc = pc
	return nil
}

// Serve answers over UDP and over TCP on ln.
func (d *dnsServer) Serve(ln net.Listener) error {
	if d.pc != nil {
		go func() {
			if err := d.Server.ServePacket(d.pc); err != nil {
				d.log.Error("DNS over UDP stopped", "err", err)
			}
		}()
	}
	return d.Server.Serve(ln)
}

// newWebServer builds the HTTPS server (and its plain-HTTP companion)
// from the config, the store and the running queue.
func newWebServer(dir string, cfg config.Config, st *store.Store, d *delivery.Deliverer, q *delivery.Queue, res resolver.Resolver, grd *guard.Guard, cm *certs.Manager, log *slog.Logger) *web.Server {
	svc := web.Services{IMAPS: cfg.IMAPSPort, IMAP: cfg.IMAPPort, Submission: cfg.SubmissionPort, Submissions: cfg.SubmissionsPort}
	svc.POP3S, svc.POP3 = cfg.POP3SPort, cfg.POP3Port
	svc.ManageSieve = cfg.Sieve.ManageSievePort
	records := func(ctx context.Context) (*dnsrecords.Set, dnsrecords.Input, error) {
		return buildRecords(ctx, dir, st, cfg)
	}
	// The webmail logs in and keeps sessions through the web server it
	// is mounted on (web.Server.MailSession, LoginToken).
	var ws *web.Server
	adm := newBoxAdmin(dir, cfg, st, d, q)
	undo := time.Duration(cfg.WebmailUndoSeconds) * time.Second
	if undo == 0 {
		undo = -1 // webmail: sent at once
	}
	mail := webmail.New(webmail.Options{Store: st, Logger: log.With("part", "webmail"), Sender: d, Admin: adm, Hostname: cfg.Hostname,
		MaxMessageBytes: cfg.MaxMessageBytes, UploadDir: filepath.Join(dir, "webmail-uploads"), UndoHold: undo,
		Session: func(r *http.Request) (webmail.Session, bool) {
			id, email, csrf, ok := ws.MailSession(r)
			return webmail.Session{AccountID: id, Email: email, CSRF: csrf}, ok
		},
		LoginToken: func(w http.ResponseWriter) string { return ws.LoginToken(w) },
		ImageProxy: webmailImageProxy(os.Getenv, log),
	})
	ws = web.New(web.Options{
		Store: st, Admin: adm, Logger: log, Hostname: cfg.Hostname, Services: svc, HTTPSPort: cfg.HTTPSPort, Guard: grd, Mail: mail,
		// Contacts and calendars (CardDAV/CalDAV) under /dav/, logging in
		// by the mail rules under the same guard.
		DAV:            dav.New(dav.Options{Store: st, Guard: grd, Logger: log.With("part", "dav")}),
		ProfileServers: cfg.ProfileServers,
		Spam:           d, // what the spam filter caught, and releases from Junk
		ExportMail: func(ctx context.Context, accountID int64, w io.Writer, maxBytes int64) error {
			_, err := migrate.ExportMboxZip(ctx, migrate.ExportOptions{Store: st, AccountID: accountID, MaxBytes: maxBytes}, w)
			return err
		},
		Records: func(ctx context.Context) (*dnsrecords.Set, error) {
			set, _, err := records(ctx)
			return set, err
		},
		Status: func(ctx context.Context) ([]dnsrecords.Result, error) {
			return checkBox(ctx, dir, cfg, st, res, cm, nil)
		},
		// The certificate the listeners serve, reloaded when its files change.
		Certificate:       cm.Leaf,
		ACMEHTTPChallenge: cm.HandleHTTPChallenge,
		// The TLS page's upload stages a new key as 'tls install' does (tls.go).
		InstallCertificate: webInstallCert(cm),
		StagedCertificate:  webStagedCert(cm),
		SwitchCertificate:  webSwitchCert(cm),
	})
	return ws
}
