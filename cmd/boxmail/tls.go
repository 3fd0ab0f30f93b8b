package main

// 'boxmail tls': the certificates in use, installing a new pair
// (checked and written by certs.Manager, as the admin panel does), and
// removing it (back to ACME, or to a self-signed pair).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"boxmail/internal/admin"
	"boxmail/internal/certs"
	"boxmail/internal/config"
	"boxmail/internal/store"
	"boxmail/internal/web"
)

func tlsCommands() []subcommand {
	return []subcommand{
		{name: "show", summary: "the certificate in use: names, expiry, trust", run: tlsShow},
		{name: "install", args: "--cert F --key F [--now]", summary: "check and install a new pair (it wins over ACME); a new key replacing one installed by hand is served after its TLSA has been published for two TTLs, unless --now", run: tlsInstall},
		{name: "rotate-key", args: "[--wait D]", summary: "get an ACME certificate for a new key; it is staged and served once its TLSA has been published for two TTLs, like a pair installed by hand", run: tlsRotateKey},
		{name: "switch", args: "[--force]", summary: "serve the staged pair now (it is due once its TLSA has been published for two TTLs; --force: before that)", run: tlsSwitch},
		{name: "remove", summary: "remove the pair installed by hand: ACME's certificates (acme = on) or a new self-signed pair are served", run: tlsRemove},
	}
}

// tlsArgs parses a tls subcommand (it takes flags only) and loads the
// config.
func tlsArgs(e *env, sub string, args []string, flags func(*flag.FlagSet)) (string, config.Config, error) {
	dir, pos, err := parseWith(e, "tls "+sub, args, flags)
	if err != nil {
		return "", config.Config{}, err
	}
	if err := noArgs(pos); err != nil {
		return "", config.Config{}, err
	}
	cfg, err := config.Load(dir)
	return dir, cfg, err
}

func tlsShow(e *env, args []string) error {
	dir, cfg, err := tlsArgs(e, "show", args, nil)
	if err != nil {
		return err
	}
	names, err := certNames(dir, cfg)
	if err != nil {
		return err
	}
	cm := newCerts(dir, cfg, nil)
	if cfg.ACME.On && cfg.StoreURL != "" { // several nodes: the box's ACME certificates are in the store
		return withBox(dir, func(_ config.Config, st *store.Store) error { cm.ReadACMEFrom(st); return showCerts(e, cm, names) })
	}
	return showCerts(e, cm, names)
}

// showCerts prints the status lines of the certificates of names.
func showCerts(e *env, cm *certs.Manager, names []string) error {
	for _, r := range cm.Checks(names) {
		fmt.Fprintf(e.stdout, "%s: %s: %s\n", r.Level, r.Subject, r.Found)
		if r.Fix != "" {
			fmt.Fprintf(e.stdout, "  fix: %s\n", r.Fix)
		}
	}
	return nil
}

func tlsInstall(e *env, args []string) error {
	var certFile, keyFile string
	var now bool
	dir, cfg, err := tlsArgs(e, "install", args, func(fs *flag.FlagSet) {
		fs.StringVar(&certFile, "cert", "", "PEM certificate chain, leaf first (required)")
		fs.StringVar(&keyFile, "key", "", "PEM private key (required)")
		fs.BoolVar(&now, "now", false, "serve a new key at once, without publishing its TLSA first (DANE senders that cached the old record defer mail for up to its TTL)")
	})
	if err != nil {
		return err
	}
	if certFile == "" || keyFile == "" {
		return usagef("--cert FILE and --key FILE are required")
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return fmt.Errorf("reading the certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return fmt.Errorf("reading the key: %w", err)
	}
	cm := newCerts(dir, cfg, nil)
	if !now && cm.NeedsStaging(certPEM) {
		n, err := cm.Stage(context.Background(), certPEM, keyPEM)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "staged the certificate for %s: its key is new, so a running boxmail publishes its TLSA (%s) beside the current one now "+
			"and serves it %s later, once every cached copy of the old TLSA has expired ('boxmail tls switch --force' serves it at once)\n",
			certs.Names(n.Leaf), n.TLSA, certs.SwitchWait)
		return nil
	}
	leaf, err := cm.Install(context.Background(), certPEM, keyPEM)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "installed the certificate for %s (until %s); a running boxmail serves it from its next connection\n", certs.Names(leaf), leaf.NotAfter.UTC().Format(time.DateOnly))
	return nil
}

// certNames are the names of the ACME certificates (none when ACME is
// off: only the pair in the files is shown).
func certNames(dir string, cfg config.Config) ([]string, error) {
	if !cfg.ACME.On {
		return nil, nil
	}
	var names []string
	err := withBox(dir, func(cfg config.Config, st *store.Store) (err error) {
		names, err = acmeNames(context.Background(), st, cfg)
		return err
	})
	return names, err
}

func tlsRemove(e *env, args []string) error {
	dir, cfg, err := tlsArgs(e, "remove", args, nil)
	if err != nil {
		return err
	}
	if err := newCerts(dir, cfg, nil).WriteSelfSigned(cfg.Hostname, "localhost", "127.0.0.1", "::1"); err != nil {
		return err
	}
	if cfg.ACME.On {
		fmt.Fprintf(e.stdout, "removed; a running boxmail serves the certificates from %s from its next connection\n", cfg.ACME.CA)
	} else {
		fmt.Fprintf(e.stdout, "removed; a running boxmail serves a new self-signed certificate from its next connection (set acme = on in boxmail.conf for trusted ones)\n")
	}
	return nil
}

func tlsSwitch(e *env, args []string) error {
	var force bool
	dir, cfg, err := tlsArgs(e, "switch", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&force, "force", false, "serve it even if its TLSA has not been published for two TTLs yet")
	})
	if err != nil {
		return err
	}
	cm := newCerts(dir, cfg, nil)
	n, err := cm.ReadNext()
	if errors.Is(err, certs.ErrNoNext) {
		return errors.New("no certificate is staged ('boxmail tls install' stages one whose key is new)")
	}
	if err != nil {
		return err
	}
	if due, at := n.SwitchDue(time.Now()); !due && !force {
		if at.IsZero() {
			return fmt.Errorf("the staged certificate's TLSA is not published yet: start the box ('boxmail serve'), or use --force")
		}
		return fmt.Errorf("the staged certificate's TLSA has been published since %s; it is served from %s (or use --force)",
			n.Published.Format(time.RFC3339), at.Format(time.RFC3339))
	}
	if n.ACME {
		return switchACMEInBox(e, cm)
	}
	leaf, err := cm.Switch(context.Background())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "switched to the certificate for %s (until %s); a running boxmail serves it from its next connection and drops the old key's TLSA\n",
		certs.Names(leaf), leaf.NotAfter.UTC().Format(time.DateOnly))
	return nil
}

// tlsRotateKey asks the running box for an ACME certificate with a new
// key (certs acmerotate.go) and waits for it to be staged.
func tlsRotateKey(e *env, args []string) error {
	var wait time.Duration
	dir, cfg, err := tlsArgs(e, "rotate-key", args, func(fs *flag.FlagSet) {
		fs.DurationVar(&wait, "wait", 2*time.Minute, "how long to wait for the running box to get the certificate")
	})
	if err != nil {
		return err
	}
	if !cfg.ACME.On {
		return fmt.Errorf("%w; a pair installed by hand gets a new key with 'boxmail tls install'", certs.ErrNoACME)
	}
	cm := newCerts(dir, cfg, nil)
	if err := cm.RequestKeyRotation(); err != nil {
		return err
	}
	start := time.Now()
	for deadline := start.Add(wait); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if time.Since(start) > 5*time.Second && !cm.RotationTaken() {
			fmt.Fprintf(e.stdout, "requested; the box gets the certificate when it runs ('boxmail serve')\n")
			return nil
		}
		n, failed, pending := cm.RotationOutcome()
		switch {
		case failed != nil:
			return fmt.Errorf("the box could not get a certificate for a new key: %w", failed)
		case !pending:
			fmt.Fprintf(e.stdout, "staged a certificate for %s with a new key (until %s): a running boxmail publishes its TLSA (%s) beside the current one now "+
				"and serves it %s later, once every cached copy of the old TLSA has expired ('boxmail tls switch --force' serves it at once)\n",
				certs.Names(n.Leaf), n.Leaf.NotAfter.UTC().Format(time.DateOnly), n.TLSA, certs.SwitchWait)
			return nil
		}
	}
	fmt.Fprintf(e.stdout, "requested; the running box gets the certificate from %s and stages it ('boxmail tls show' and the log say when)\n", cfg.ACME.CA)
	return nil
}

// switchACMEInBox asks the running box to switch to the staged ACME
// pair now (only it writes the ACME storage) and waits for it.
func switchACMEInBox(e *env, cm *certs.Manager) error {
	if err := cm.RequestSwitch(); err != nil {
		return err
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if _, err := cm.ReadNext(); errors.Is(err, certs.ErrNoNext) {
			fmt.Fprintf(e.stdout, "switched to the new key; the running box serves it from its next connection and drops the old key's TLSA\n")
			return nil
		}
	}
	fmt.Fprintf(e.stdout, "requested; the running box switches to the staged ACME certificate at its next DNS poll\n")
	return nil
}

// webInputError is a certs.InputError as the web shows it to its user.
func webInputError(err error) error {
	var ie *certs.InputError
	if errors.As(err, &ie) {
		return &admin.InputError{Msg: ie.Msg}
	}
	return err
}

// webInstallCert is the admin panel's upload: staged like 'boxmail tls
// install' when the key is new, else installed at once.
func webInstallCert(cm *certs.Manager) func(ctx context.Context, certPEM, keyPEM []byte) (bool, error) {
	return func(ctx context.Context, certPEM, keyPEM []byte) (bool, error) {
		if cm.NeedsStaging(certPEM) {
			_, err := cm.Stage(ctx, certPEM, keyPEM)
			return err == nil, webInputError(err)
		}
		_, err := cm.Install(ctx, certPEM, keyPEM)
		return false, webInputError(err)
	}
}

// webStagedCert is the staged pair as the TLS page shows it: when it is
// served (until its TLSA is in the zone: SwitchWait from now).
func webStagedCert(cm *certs.Manager) func() *web.StagedCertificate {
	return func() *web.StagedCertificate {
		n, err := cm.ReadNext()
		if err != nil {
			return nil
		}
		_, at := n.SwitchDue(time.Now())
		published := !at.IsZero()
		if !published {
			at = time.Now().Add(certs.SwitchWait)
		}
		return &web.StagedCertificate{Names: certs.Names(n.Leaf), TLSA: n.TLSA, SwitchAt: at, Published: published}
	}
}

// webSwitchCert is the TLS page's "switch now" (the serving process:
// an ACME pair too).
func webSwitchCert(cm *certs.Manager) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := cm.Switch(ctx)
		return err
	}
}
