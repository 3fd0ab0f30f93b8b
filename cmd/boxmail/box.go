package main

// Opening a data dir and wiring the services every command shares: the
// store, the admin service, the certificate manager and the resolver.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"boxmail/internal/admin"
	"boxmail/internal/certs"
	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// openStore opens the store of an existing data dir.
func openStore(dir string) (*store.Store, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("data dir %s does not exist (create it with 'boxmail init' or 'boxmail quickstart')", dir)
	}
	url, bodies, err := storeURL(dir)
	if err != nil {
		return nil, err
	}
	return store.Open(context.Background(), dir, store.Options{URL: url, BodyStore: bodies})
}

// storeURL is the store_url and body_store of dir's config ("": the
// embedded SQLite store), so that every command opens the box's store
// where serve does. A dir without a config yet (init writes it last) has
// the SQLite store.
func storeURL(dir string) (url, bodyStore string, err error) {
	cfg, err := config.Load(dir)
	if errors.Is(err, os.ErrNotExist) {
		return "", "", nil
	}
	return cfg.StoreURL, cfg.BodyStore, err
}

// openBox loads the config and opens the store of a data dir.
func openBox(dir string) (config.Config, *store.Store, error) {
	cfg, err := loadConfig(dir)
	if err != nil {
		return cfg, nil, err
	}
	st, err := openStore(dir)
	return cfg, st, err
}

// loadConfig loads the config of a data dir, telling how to create one
// that is missing.
func loadConfig(dir string) (config.Config, error) {
	cfg, err := config.Load(dir)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, fmt.Errorf("no %s in %s: create the box with 'boxmail init' first", config.FileName, dir)
	}
	return cfg, err
}

// closeStore closes a command's store (deferred): a failed close is the
// command's error unless it already has one.
func closeStore(st *store.Store, err *error) {
	if cerr := st.Close(); cerr != nil && *err == nil {
		*err = cerr
	}
}

// withStore opens the store of dir, runs fn on it and closes it: a
// failed close is the command's error unless fn returned one.
func withStore(dir string, fn func(*store.Store) error) (err error) {
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	return fn(st)
}

// withBox is withStore for a command that also needs the config.
func withBox(dir string, fn func(config.Config, *store.Store) error) (err error) {
	cfg, st, err := openBox(dir)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	return fn(cfg, st)
}

// hostedDomain normalises a DOMAIN argument and checks the box hosts it.
func hostedDomain(ctx context.Context, st *store.Store, arg string) (string, error) {
	d := strings.ToLower(strings.TrimSuffix(arg, "."))
	if ok, err := st.IsLocalDomain(ctx, d); err != nil {
		return "", err
	} else if !ok {
		return "", fmt.Errorf("domain %s is not hosted here", d)
	}
	return d, nil
}

// newAdmin is the admin service of a command that runs no server.
func newAdmin(st *store.Store) *admin.Service { return admin.New(admin.Options{Store: st}) }

// newBoxAdmin is the admin service with the config's hostname and
// resolvers, the box's DNS records (the migration checklist, DKIM
// checks, bounces of removed queue entries) and, when serving, the
// running deliverer and queue (nil otherwise).
func newBoxAdmin(dir string, cfg config.Config, st *store.Store, d *delivery.Deliverer, q *delivery.Queue) *admin.Service {
	return admin.New(admin.Options{Store: st, Deliverer: d, Queue: q, Hostname: cfg.Hostname, Resolvers: cfg.Resolvers,
		Records: func(ctx context.Context) (*dnsrecords.Set, dnsrecords.Input, error) {
			return buildRecords(ctx, dir, st, cfg)
		}})
}

// newCerts is the manager of the config's TLS pair (not loaded).
func newCerts(dir string, cfg config.Config, log *slog.Logger) *certs.Manager {
	o := certs.Options{CertFile: config.Path(dir, cfg.TLSCert), KeyFile: config.Path(dir, cfg.TLSKey),
		Hostname: cfg.Hostname, Logger: log, NextDir: filepath.Join(dir, "tls-next")}
	if cfg.ACME.On {
		o.ACMEDir, o.ACMECA = filepath.Join(dir, "acme"), cfg.ACME.CA
	}
	return certs.New(o)
}

// newResolver is the DNS resolver of the box's own lookups (outbound
// MX, checks, guard): the config's resolvers, else the system's.
func newResolver(cfg config.Config) *resolver.Net {
	r := resolver.Servers(cfg.Resolvers)
	r.TrustedAD = cfg.Outbound.TrustedADResolvers
	return r
}
