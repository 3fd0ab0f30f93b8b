package certs

// A key change announced before it happens (DANE, RFC 7671 8.1 and
// RFC 7672 2.2): the box publishes TLSA "3 1 1" records of its key, and
// a sender that validates DNSSEC defers mail to a key its cached TLSA
// RRset does not name. So a pair installed by hand whose key differs
// from the served one is first staged:
//
//	NextDir/cert.pem, key.pem   the next pair (0644, 0600)
//	NextDir/next.json           {"tlsa", "published"}
//
// the serving process publishes the next key's TLSA beside the current
// one (NextTLSA) and notes when the zone first carried it (Published);
// once that is 2×TTL of the TLSA RRset ago (SwitchDue), the pair is
// installed (Switch) and the old key's record goes with it. An ACME
// renewal keeps the key (acme.go), so it needs none of this.
//
// Staged this way: a pair installed by hand ('boxmail tls install' and
// the admin panel's upload: NeedsStaging) whose key differs from the key
// served, and an ACME certificate obtained for a new key ('boxmail tls
// rotate-key', acmerotate.go), which the switch puts into the ACME
// storage instead of the files. The first ACME certificate needs no
// stage: it is obtained for the key of the generated pair it replaces
// (seedACMEKey).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"boxmail/internal/dnsrecords"
	"boxmail/internal/safefile"
)

// SwitchWait is how long the next key's TLSA is published before the
// key is served: twice the RRset's TTL, so every cached copy of the
// RRset without it has expired.
const SwitchWait = 2 * dnsrecords.TLSATTL * time.Second

// Next is a staged pair.
type Next struct {
	TLSA      string    `json:"tlsa"`               // its TLSA RDATA
	Published time.Time `json:"published,omitzero"` // when the zones first carried it; zero: not yet
	// ACME: the pair was obtained from the CA for a new key (a key
	// rotation): the switch writes it into the ACME storage, where
	// renewals keep its key, and only the serving box does it.
	ACME       bool            `json:"acme,omitempty"`
	IssuerData json.RawMessage `json:"issuer_data,omitempty"` // the CA's data of an ACME pair (certmagic's)
	// Force asks the serving box to switch at its next poll, due or
	// not ('boxmail tls switch --force' of an ACME pair).
	Force bool              `json:"force,omitempty"`
	Leaf  *x509.Certificate `json:"-"`
}

func (m *Manager) nextPath(name string) string { return filepath.Join(m.o.NextDir, name) }

// ErrNoNext: no pair is staged.
var ErrNoNext = errors.New("no next certificate is staged")

// ReadNext returns the staged pair with its certificate, or ErrNoNext.
func (m *Manager) ReadNext() (*Next, error) {
	n, err := m.nextState()
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(m.nextPath("cert.pem"), m.nextPath("key.pem"))
	if err != nil {
		return nil, fmt.Errorf("the staged certificate: %w", err)
	}
	n.Leaf = pair.Leaf
	return n, nil
}

// nextState reads next.json only (the DNS server asks at every poll).
func (m *Manager) nextState() (*Next, error) {
	if m.o.NextDir == "" {
		return nil, ErrNoNext
	}
	data, err := os.ReadFile(m.nextPath("next.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoNext
	}
	if err != nil {
		return nil, err
	}
	n := &Next{}
	if err := json.Unmarshal(data, n); err != nil {
		return nil, fmt.Errorf("%s: %w", m.nextPath("next.json"), err)
	}
	return n, nil
}

// NeedsStaging tells whether installing this certificate should wait for
// its TLSA: its key differs from that of the pair installed by hand now
// served, or from the ACME certificate's. Replacing the generated
// self-signed pair while nothing else is served (a new box) is done at
// once.
func (m *Manager) NeedsStaging(certPEM []byte) bool {
	if m.o.NextDir == "" || !m.KeyChanges(certPEM) {
		return false
	}
	cert := m.current()
	return cert != nil && (!m.fileIsFallback(cert) || m.acmeServed() != nil)
}

// acmeServed is the hostname's ACME certificate that is served while
// the files hold the generated pair: the running client's, else (a
// command's process) the stored one; nil when ACME has none.
func (m *Manager) acmeServed() *x509.Certificate {
	if st := m.acme.Load(); st != nil {
		if c := st.acmeCert(&tls.ClientHelloInfo{ServerName: m.o.Hostname}); c != nil {
			return c.Leaf
		}
		return nil
	}
	if c := m.storedLeaf(m.o.Hostname); c != nil && m.o.Now().Before(c.NotAfter) {
		return c
	}
	return nil
}

// ServedLeaf is the hostname's certificate the serving box hands out,
// as another process can know it: Leaf, or the stored ACME certificate
// when the files hold only the generated pair.
func (m *Manager) ServedLeaf() *x509.Certificate {
	cert := m.current()
	if m.fileIsFallback(cert) {
		if c := m.acmeServed(); c != nil {
			return c
		}
	}
	leaf, _ := m.Leaf()
	return leaf
}

// KeyChanges tells whether a certificate's key differs from the key
// served now (nothing served, or a certificate that does not parse,
// counts as no change).
func (m *Manager) KeyChanges(certPEM []byte) bool {
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		return false
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	cur := m.ServedLeaf()
	return err == nil && cur != nil && dnsrecords.TLSAValue(leaf) != dnsrecords.TLSAValue(cur)
}

// Stage checks a pair and stages it as the next one (replacing any
// staged before); the serving box publishes its TLSA and switches to
// it SwitchWait after. Problems with the input are *InputError.
func (m *Manager) Stage(_ context.Context, certPEM, keyPEM []byte) (*Next, error) {
	if m.o.NextDir == "" {
		return nil, errors.New("no directory for a next certificate")
	}
	leaf, err := m.checkPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	n := &Next{TLSA: dnsrecords.TLSAValue(leaf), Leaf: leaf}
	return n, m.stageFiles(certPEM, keyPEM, n)
}

// stageFiles writes a checked pair and its state into NextDir, the
// state last: a pair is staged once next.json names it.
func (m *Manager) stageFiles(certPEM, keyPEM []byte, n *Next) error {
	if err := os.RemoveAll(m.nextPath("next.json")); err != nil {
		return err
	}
	if err := os.MkdirAll(m.o.NextDir, 0o700); err != nil {
		return err
	}
	if err := safefile.Write(m.nextPath("key.pem"), keyPEM, 0o600); err != nil {
		return err
	}
	if err := safefile.Write(m.nextPath("cert.pem"), certPEM, 0o644); err != nil {
		return err
	}
	return m.writeNext(n)
}

func (m *Manager) writeNext(n *Next) error {
	data, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	return safefile.Write(m.nextPath("next.json"), append(data, '\n'), 0o600)
}

// NextTLSA returns the staged key's TLSA RDATA, "" when none is staged.
func (m *Manager) NextTLSA() string {
	n, err := m.nextState()
	if err != nil {
		return ""
	}
	return n.TLSA
}

// Published notes that the zones now carry the staged key's TLSA (the
// first time counts).
func (m *Manager) Published(now time.Time) error {
	n, err := m.nextState()
	if errors.Is(err, ErrNoNext) || err == nil && !n.Published.IsZero() {
		return nil
	}
	if err != nil {
		return err
	}
	n.Published = now.UTC()
	return m.writeNext(n)
}

// SwitchIfDue switches to the staged pair once it is due (the serving
// box calls it at every DNS poll); it returns the new leaf, nil when
// nothing was due.
func (m *Manager) SwitchIfDue(ctx context.Context, now time.Time) (*x509.Certificate, error) {
	m.syncShared(false) // mirror.go: another node's staging or switch
	n, err := m.nextState()
	if errors.Is(err, ErrNoNext) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if due, _ := n.SwitchDue(now); !due && !n.Force {
		return nil, nil
	}
	if n.ACME && m.acme.Load() == nil {
		return nil, nil // the ACME client has not started yet
	}
	return m.Switch(ctx)
}

// SwitchDue tells whether the staged pair has been published for
// SwitchWait, and when it will have been (zero when not published).
func (n *Next) SwitchDue(now time.Time) (bool, time.Time) {
	if n.Published.IsZero() {
		return false, time.Time{}
	}
	at := n.Published.Add(SwitchWait)
	return !now.Before(at), at
}

// ErrSwitchInServer: the staged pair is an ACME one, which only the
// serving box switches (RequestSwitch asks it to).
var ErrSwitchInServer = errors.New("the staged certificate is an ACME one: the running box switches it")

// Switch installs the staged pair (Install: a loaded Manager serves it
// at once; an ACME pair goes into the ACME storage, switchACME) and
// removes it from the stage. It does not check the wait: callers do
// (SwitchDue), or the admin forces it.
func (m *Manager) Switch(ctx context.Context) (*x509.Certificate, error) {
	n, err := m.ReadNext()
	if err != nil {
		return nil, err
	}
	certPEM, err := os.ReadFile(m.nextPath("cert.pem"))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(m.nextPath("key.pem"))
	if err != nil {
		return nil, err
	}
	if n.ACME {
		st := m.acme.Load()
		if st == nil {
			return nil, ErrSwitchInServer
		}
		if err := m.switchACME(ctx, st, n, certPEM, keyPEM); err != nil {
			return nil, err
		}
		return n.Leaf, m.Unstage()
	}
	leaf, err := m.Install(ctx, certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return leaf, m.Unstage()
}

// RequestSwitch asks the serving box to switch to the staged pair at
// its next poll, due or not.
func (m *Manager) RequestSwitch() error {
	n, err := m.nextState()
	if err != nil {
		return err
	}
	n.Force = true
	return m.writeNext(n)
}

// Unstage forgets the staged pair.
func (m *Manager) Unstage() error {
	if m.o.NextDir == "" {
		return nil
	}
	return os.RemoveAll(m.o.NextDir)
}
