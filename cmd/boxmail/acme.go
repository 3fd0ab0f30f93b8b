package main

// ACME wiring of 'boxmail serve': the names the box holds certificates
// for, the CA's trust roots, and starting certs.Manager's ACME client
// with the box's own DNS server answering DNS-01.

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"boxmail/internal/certs"
	"boxmail/internal/config"
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
func startACME(cfg config.Config, st *store.Store, cm *certs.Manager, roots *x509.CertPool, dns certs.Challenger) error {
	names, err := acmeNames(context.Background(), st, cfg)
	if err != nil {
		return err
	}
	o := certs.ACMEOptions{Roots: roots, Email: cfg.ACME.Email, Names: names, RenewCheck: cfg.ACME.RenewCheck,
		HTTP: cfg.HTTPPort == 80, TLSALPN: cfg.HTTPSPort == 443}
	if cfg.DNSPort != 0 && dns != nil {
		o.DNS = dns
	}
	return cm.StartACME(o)
}
