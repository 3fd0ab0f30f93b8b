package main

import (
	"context"
	"log/slog"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/guard"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
	"boxmail/internal/web"
)

// newWebServer builds the HTTPS server (and its plain-HTTP companion)
// from the config, the store and the running queue.
func newWebServer(dir string, cfg config.Config, st *store.Store, d *delivery.Deliverer, q *delivery.Queue, res resolver.Resolver, grd *guard.Guard, certs *certFiles, log *slog.Logger) *web.Server {
	svc := web.Services{IMAPS: cfg.IMAPSPort, IMAP: cfg.IMAPPort, Submission: cfg.SubmissionPort, Submissions: cfg.SubmissionsPort}
	svc.POP3S, svc.POP3 = cfg.POP3SPort, cfg.POP3Port
	svc.ManageSieve = cfg.Sieve.ManageSievePort
	records := func(ctx context.Context) (*dnsrecords.Set, dnsrecords.Input, error) {
		return buildRecords(ctx, dir, st, cfg)
	}
	return web.New(web.Options{
		Store: st, Admin: newBoxAdmin(dir, cfg, st, d, q), Logger: log, Hostname: cfg.Hostname, Services: svc, HTTPSPort: cfg.HTTPSPort, Guard: grd,
		ProfileServers: cfg.ProfileServers,
		Records: func(ctx context.Context) (*dnsrecords.Set, error) {
			set, _, err := records(ctx)
			return set, err
		},
		Status: func(ctx context.Context) ([]dnsrecords.Result, error) {
			set, in, err := records(ctx)
			if err != nil {
				return nil, err
			}
			out := dnsrecords.Check(ctx, res, set, in, dnsrecords.CheckOptions{Host: true, DNSBL: cfg.DNSBL})
			return append(out, checkCert(dir, cfg)...), nil
		},
		// The certificate the listeners serve, reloaded when its files change.
		Certificate: certs.Leaf,
		InstallCertificate: func(ctx context.Context, certPEM, keyPEM []byte) error {
			if _, err := installCert(dir, cfg, certPEM, keyPEM, time.Now()); err != nil {
				return err
			}
			return certs.Installed()
		},
	})
}
