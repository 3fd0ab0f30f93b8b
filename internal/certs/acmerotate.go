package certs

// ACME key changes under DANE (next.go). The box publishes TLSA "3 1 1"
// of its key, so a key change is announced before it is served:
//
//   - the first ACME certificate of the hostname is obtained for the key
//     of the generated self-signed pair it replaces (seedACMEKey): the
//     published TLSA stays true, there is nothing to announce;
//   - a deliberate rotation ('boxmail tls rotate-key') asks the serving
//     box through a request file, DIR/acme/boxmail-rotate-key.request;
//     the box obtains a certificate for a new key from the CA (the same
//     issuers and challenges as certmagic's own orders) and stages it
//     in NextDir with "acme": true. After the usual SwitchWait the
//     switch writes key, certificate and metadata into certmagic's
//     storage under its issue lock (switchACME) and replaces the cached
//     certificate, so renewals keep the new key. A failure is written
//     to DIR/acme/boxmail-rotate-key.error for the command to show.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/certmagic"

	"boxmail/internal/dnsrecords"
	"boxmail/internal/safefile"
)

// The files of a rotation request and of its failure, in ACMEDir.
const (
	rotateRequestName = "boxmail-rotate-key.request"
	rotateErrorName   = "boxmail-rotate-key.error"
)

// rotatePoll is how often the serving box looks for a rotation request.
const rotatePoll = time.Second

// ErrNoACME: the box does not get its certificates from ACME.
var ErrNoACME = errors.New("ACME is off (acme = on in boxmail.conf)")

// RequestKeyRotation asks the serving box to obtain a certificate for
// the hostname with a new key and stage it; it refuses when a pair is
// staged already or a pair installed by hand is served (its key is the
// admin's to change, with 'boxmail tls install').
func (m *Manager) RequestKeyRotation() error {
	if m.o.ACMEDir == "" {
		return ErrNoACME
	}
	if _, err := m.nextState(); err == nil {
		return &InputError{Msg: "a certificate is staged already ('boxmail tls switch' serves it)"}
	}
	if cert := m.current(); cert != nil && !m.fileIsFallback(cert) {
		return &InputError{Msg: "the box serves a pair installed by hand, not ACME's: 'boxmail tls install' a pair with a new key instead (or 'boxmail tls remove' first)"}
	}
	if err := os.MkdirAll(m.o.ACMEDir, 0o700); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(m.o.ACMEDir, rotateErrorName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return safefile.Write(filepath.Join(m.o.ACMEDir, rotateRequestName), []byte("rotate-key\n"), 0o600)
}

// RotationTaken tells whether the serving box has taken the rotation
// request (it removes the file within rotatePoll).
func (m *Manager) RotationTaken() bool {
	_, err := os.Stat(filepath.Join(m.o.ACMEDir, rotateRequestName))
	return errors.Is(err, os.ErrNotExist)
}

// RotationOutcome tells what became of a rotation request: the staged
// pair (nil while none), the serving box's error, or pending (neither
// yet: the box has not taken the request, or is still at the CA).
func (m *Manager) RotationOutcome() (n *Next, failed error, pending bool) {
	if b, err := os.ReadFile(filepath.Join(m.o.ACMEDir, rotateErrorName)); err == nil {
		return nil, errors.New(string(b)), false
	}
	if n, err := m.ReadNext(); err == nil && n.ACME {
		return n, nil, false
	}
	return nil, nil, true
}

// watchRotation applies rotation requests while ACME runs.
func (m *Manager) watchRotation(st *acmeState) {
	t := time.NewTicker(rotatePoll)
	defer t.Stop()
	req := filepath.Join(m.o.ACMEDir, rotateRequestName)
	for {
		select {
		case <-st.ctx.Done():
			return
		case <-t.C:
		}
		if _, err := os.Stat(req); err != nil {
			continue
		}
		if err := os.Remove(req); err != nil {
			m.logWarn("ACME key rotation: removing the request", err)
			continue
		}
		ctx, cancel := context.WithTimeout(st.ctx, 5*time.Minute)
		n, err := m.rotateKey(ctx, st)
		cancel()
		if err != nil {
			m.logWarn("ACME key rotation failed", err)
			if werr := safefile.Write(filepath.Join(m.o.ACMEDir, rotateErrorName), []byte(err.Error()), 0o600); werr != nil {
				m.logWarn("ACME key rotation: writing its error", werr)
			}
			continue
		}
		if m.o.Logger != nil {
			m.o.Logger.Info("ACME key rotation: a certificate for a new key is staged; its TLSA is published before it is served", "tlsa", n.TLSA, "switch_after", SwitchWait)
		}
	}
}

func (m *Manager) logWarn(msg string, err error) {
	if m.o.Logger != nil {
		m.o.Logger.Warn(msg, "err", err)
	}
}

// rotateKey obtains a certificate for the hostname with a new ECDSA
// P-256 key from the first issuer that succeeds, and stages it.
func (m *Manager) rotateKey(ctx context.Context, st *acmeState) (*Next, error) {
	if _, err := m.nextState(); err == nil {
		return nil, errors.New("a certificate is staged already")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: m.o.Hostname}, DNSNames: []string{m.o.Hostname}}, key)
	if err != nil {
		return nil, err
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, err
	}
	var issued *certmagic.IssuedCertificate
	var errs []error
	for _, iss := range st.cfg.Issuers {
		if issued, err = iss.Issue(ctx, csr); err == nil {
			break
		}
		errs = append(errs, err)
	}
	if issued == nil {
		return nil, fmt.Errorf("obtaining a certificate for a new key: %w", errors.Join(errs...))
	}
	keyPEM, err := certmagic.PEMEncodePrivateKey(key)
	if err != nil {
		return nil, err
	}
	leaf, err := m.checkPair(issued.Certificate, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("the CA's certificate: %w", err)
	}
	meta, err := json.Marshal(issued.Metadata)
	if err != nil {
		return nil, err
	}
	n := &Next{TLSA: dnsrecords.TLSAValue(leaf), ACME: true, IssuerData: meta, Leaf: leaf}
	return n, m.stageFiles(issued.Certificate, keyPEM, n)
}

// switchACME makes a staged ACME pair the hostname's certificate: into
// certmagic's storage (key, certificate, metadata; under the lock its
// own orders take, so no renewal of another process interleaves), then
// into the cache in place of the old one.
func (m *Manager) switchACME(ctx context.Context, st *acmeState, n *Next, certPEM, keyPEM []byte) error {
	name := m.o.Hostname
	lock := "issue_cert_" + name // certmagic's lock of an order for name
	if err := st.cfg.Storage.Lock(ctx, lock); err != nil {
		return fmt.Errorf("ACME storage lock: %w", err)
	}
	defer func() {
		if err := st.cfg.Storage.Unlock(context.WithoutCancel(ctx), lock); err != nil {
			m.logWarn("ACME storage unlock", err)
		}
	}()
	res := certmagic.CertificateResource{SANs: []string{name}, IssuerData: n.IssuerData}
	meta, err := json.MarshalIndent(res, "", "\t")
	if err != nil {
		return err
	}
	ik := issuerKey(m.o.ACMECA)
	for _, kv := range []struct {
		key   string
		value []byte
	}{
		{certmagic.StorageKeys.SitePrivateKey(ik, name), keyPEM},
		{certmagic.StorageKeys.SiteCert(ik, name), certPEM},
		{certmagic.StorageKeys.SiteMeta(ik, name), meta},
	} {
		if err := st.cfg.Storage.Store(ctx, kv.key, kv.value); err != nil {
			return fmt.Errorf("ACME storage: %w", err)
		}
	}
	var old []string
	for _, c := range st.cache.AllMatchingCertificates(name) {
		old = append(old, c.Hash())
	}
	cached, err := st.cfg.CacheManagedCertificate(ctx, name)
	if err != nil {
		return fmt.Errorf("loading the new certificate: %w", err)
	}
	var gone []string
	for _, h := range old {
		if h != cached.Hash() {
			gone = append(gone, h)
		}
	}
	st.cache.Remove(gone)
	if m.o.Logger != nil {
		m.o.Logger.Info("ACME key rotation: switched to the new key", "tlsa", n.TLSA)
	}
	return nil
}

// seedACMEKey gives the hostname's first ACME certificate the key of the
// generated self-signed pair served now (certmagic reuses a stored key,
// ReusePrivateKeys): the TLSA records published for that key stay true
// when the ACME certificate replaces the pair.
func (m *Manager) seedACMEKey(ctx context.Context, storage certmagic.Storage) {
	cert := m.current()
	if cert == nil || !m.fileIsFallback(cert) {
		return
	}
	key := certmagic.StorageKeys.SitePrivateKey(issuerKey(m.o.ACMECA), m.o.Hostname)
	if storage.Exists(ctx, key) {
		return
	}
	keyPEM, err := os.ReadFile(m.o.KeyFile)
	if err == nil {
		_, err = certmagic.PEMDecodePrivateKey(keyPEM)
	}
	if err == nil {
		err = storage.Store(ctx, key, keyPEM)
	}
	if err != nil {
		m.logWarn("ACME: keeping the served key for the first certificate", err)
	}
}
