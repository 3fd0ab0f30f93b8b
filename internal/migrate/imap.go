package migrate

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"boxmail/internal/store"
)

// IMAPOptions say how to reach the old provider's IMAP server.
type IMAPOptions struct {
	// URL is imaps://host[:993] (TLS) or imap://host[:143] (STARTTLS;
	// plaintext only when Insecure).
	URL      string
	User     string
	Password string
	// Insecure allows a plaintext connection and an unverified certificate.
	Insecure bool
	// TLSConfig, when set, is used for TLS (tests: a private root).
	TLSConfig *tls.Config
	Timeout   time.Duration // dial and per-command timeout (default 60 s)
}

// IMAPSource reads an account over IMAP with emersion/go-imap/v2's
// client. Connections are pooled: each Open takes one (dialling a new one
// when none is idle) and the reader's Close returns it.
type IMAPSource struct {
	opts   IMAPOptions
	addr   string
	scheme string
	host   string

	mu        sync.Mutex
	idle      []*imapclient.Client
	all       []*imapclient.Client
	wireNames map[string]string // folder name → name on the wire
}

// NewIMAPSource checks the URL and logs in once, so a wrong password or
// an unreachable host is reported before anything else happens.
func NewIMAPSource(ctx context.Context, opts IMAPOptions) (*IMAPSource, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("old server %q: not a URL like imaps://imap.example.com", opts.URL)
	}
	s := &IMAPSource{opts: opts, scheme: u.Scheme, host: u.Hostname()}
	if s.opts.Timeout <= 0 {
		s.opts.Timeout = 60 * time.Second
	}
	port := u.Port()
	switch u.Scheme {
	case "imaps":
		if port == "" {
			port = "993"
		}
	case "imap":
		if port == "" {
			port = "143"
		}
	default:
		return nil, fmt.Errorf("old server %q: the scheme must be imaps:// or imap://", opts.URL)
	}
	s.addr = net.JoinHostPort(u.Hostname(), port)
	c, err := s.dial()
	if err != nil {
		return nil, err
	}
	s.put(c)
	return s, nil
}

// Name implements Source.
func (s *IMAPSource) Name() string {
	return s.scheme + "://" + s.addr + "/" + url.PathEscape(s.opts.User)
}

func (s *IMAPSource) dial() (*imapclient.Client, error) {
	tc := s.opts.TLSConfig
	if tc == nil {
		tc = &tls.Config{}
	}
	tc = tc.Clone()
	if tc.ServerName == "" {
		tc.ServerName = s.host
	}
	tc.InsecureSkipVerify = tc.InsecureSkipVerify || s.opts.Insecure
	o := &imapclient.Options{TLSConfig: tc, Dialer: &net.Dialer{Timeout: s.opts.Timeout}}
	var c *imapclient.Client
	var err error
	switch {
	case s.scheme == "imaps":
		c, err = imapclient.DialTLS(s.addr, o)
	case s.opts.Insecure:
		c, err = imapclient.DialInsecure(s.addr, o)
	default:
		c, err = imapclient.DialStartTLS(s.addr, o)
	}
	if err != nil {
		return nil, s.dialError(err)
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: no IMAP greeting: %w", s.addr, err)
	}
	if s.scheme == "imap" && s.opts.Insecure && !c.Caps().Has(imap.CapIMAP4rev1) && !c.Caps().Has(imap.CapIMAP4rev2) {
		c.Close()
		return nil, fmt.Errorf("%s does not speak IMAP4rev1", s.addr)
	}
	if err := c.Login(s.opts.User, s.opts.Password).Wait(); err != nil {
		c.Close()
		var ie *imap.Error
		if errors.As(err, &ie) {
			return nil, fmt.Errorf("%s refused the login of %s: %s", s.addr, s.opts.User, strings.TrimSpace(ie.Text))
		}
		return nil, fmt.Errorf("login at %s: %w", s.addr, err)
	}
	s.mu.Lock()
	s.all = append(s.all, c)
	s.mu.Unlock()
	return c, nil
}

func (s *IMAPSource) dialError(err error) error {
	var ce *tls.CertificateVerificationError
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	switch {
	case errors.As(err, &ce), errors.As(err, &ue), errors.As(err, &he):
		return fmt.Errorf("the certificate of %s is not trusted (%w); check the host name, or use --insecure only on a network you trust", s.addr, err)
	case strings.Contains(err.Error(), "STARTTLS"):
		return fmt.Errorf("%s does not offer STARTTLS: use imaps://, or --insecure for plaintext", s.addr)
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("cannot connect to %s: timed out", s.addr)
	}
	if errors.As(err, &oe) {
		return fmt.Errorf("cannot connect to %s: %w", s.addr, oe.Err)
	}
	return fmt.Errorf("cannot connect to %s: %w", s.addr, err)
}

func (s *IMAPSource) get() (*imapclient.Client, error) {
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	return s.dial()
}

func (s *IMAPSource) put(c *imapclient.Client) {
	select {
	case <-c.Closed():
		return
	default:
	}
	s.mu.Lock()
	s.idle = append(s.idle, c)
	s.mu.Unlock()
}

// Close logs out of every connection.
func (s *IMAPSource) Close() error {
	s.mu.Lock()
	all := s.all
	s.all, s.idle = nil, nil
	s.mu.Unlock()
	for _, c := range all {
		done := make(chan struct{})
		go func() {
			_ = c.Logout().Wait() // a courtesy: the connection is closed next either way
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		c.Close()
	}
	return nil
}

// Folders lists the folders with LIST (RETURN (SPECIAL-USE) when the
// server has it); names arrive decoded from modified UTF-7 and get "/" as
// their separator.
func (s *IMAPSource) Folders(ctx context.Context) ([]Folder, error) {
	c, err := s.get()
	if err != nil {
		return nil, err
	}
	defer s.put(c)
	var lo *imap.ListOptions
	if c.Caps().Has(imap.CapSpecialUse) {
		lo = &imap.ListOptions{ReturnSpecialUse: true}
	}
	list, err := c.List("", "*", lo).Collect()
	if err != nil {
		return nil, fmt.Errorf("listing the folders at %s: %w", s.addr, err)
	}
	var out []Folder
	for _, l := range list {
		f := Folder{Name: l.Mailbox}
		if l.Delim != 0 && l.Delim != '/' {
			// A "/" inside a level would become a level of its own.
			parts := strings.Split(l.Mailbox, string(l.Delim))
			for i := range parts {
				parts[i] = strings.ReplaceAll(parts[i], "/", "_")
			}
			f.Name = strings.Join(parts, "/")
		}
		f.Name = NormalizeOldName(f.Name)
		for _, a := range l.Attrs {
			switch a {
			case imap.MailboxAttrNoSelect, imap.MailboxAttrNonExistent:
				f.NoSelect = true
			case imap.MailboxAttrSent, imap.MailboxAttrDrafts, imap.MailboxAttrTrash, imap.MailboxAttrJunk,
				imap.MailboxAttrArchive, imap.MailboxAttrAll, imap.MailboxAttrFlagged:
				f.SpecialUse = string(a)
			}
		}
		out = append(out, f)
		s.mu.Lock()
		if s.wireNames == nil {
			s.wireNames = map[string]string{}
		}
		s.wireNames[f.Name] = l.Mailbox
		s.mu.Unlock()
	}
	return out, nil
}

// Open selects a folder read-only (EXAMINE: the old side is never changed).
func (s *IMAPSource) Open(ctx context.Context, f Folder) (FolderReader, error) {
	s.mu.Lock()
	wire, ok := s.wireNames[f.Name]
	s.mu.Unlock()
	if !ok {
		wire = f.Name
	}
	c, err := s.get()
	if err != nil {
		return nil, err
	}
	sel, err := c.Select(wire, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		s.put(c)
		return nil, fmt.Errorf("opening %q at %s: %v", f.Name, s.addr, imapErrText(err))
	}
	return &imapFolderReader{s: s, c: c, name: f.Name, sel: sel}, nil
}

func imapErrText(err error) string {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return strings.TrimSpace(ie.Text)
	}
	return err.Error()
}

type imapFolderReader struct {
	s    *IMAPSource
	c    *imapclient.Client
	name string
	sel  *imap.SelectData
}

func (r *imapFolderReader) ID() string {
	return r.s.Name() + "/" + url.PathEscape(r.name) + ";UIDVALIDITY=" + strconv.FormatUint(uint64(r.sel.UIDValidity), 10)
}

func (r *imapFolderReader) List(ctx context.Context) ([]MsgInfo, error) {
	if r.sel.NumMessages == 0 {
		return nil, nil
	}
	cmd := r.c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true})
	out := make([]MsgInfo, 0, r.sel.NumMessages) // one allocation, not a doubling series
	for {
		m := cmd.Next()
		if m == nil {
			break
		}
		b, err := m.Collect()
		if err != nil {
			_ = cmd.Close() // the error above is the one to report
			return nil, fmt.Errorf("listing %q at %s: %w", r.name, r.s.addr, err)
		}
		if b.UID == 0 {
			continue
		}
		var names []string
		deleted := false
		for _, f := range b.Flags {
			names = append(names, string(f))
			if strings.EqualFold(string(f), `\Deleted`) {
				deleted = true
			}
		}
		fl, kw := store.ParseFlags(names)
		out = append(out, MsgInfo{Key: strconv.FormatUint(uint64(b.UID), 10), Size: b.RFC822Size, Flags: fl &^ store.FlagDeleted,
			Keywords: kw, InternalDate: b.InternalDate, Deleted: deleted})
	}
	if err := cmd.Close(); err != nil {
		return nil, fmt.Errorf("listing %q at %s: %v", r.name, r.s.addr, imapErrText(err))
	}
	return out, nil
}

// Fetch sends one UID FETCH for the batch (BODY.PEEK[], so the old side's
// \Seen flags stay as they are) and hands each message over as it
// arrives, as the literal streams in.
func (r *imapFolderReader) Fetch(ctx context.Context, msgs []MsgInfo, fn func(key string, r io.Reader) error) error {
	var set imap.UIDSet
	for _, m := range msgs {
		uid, err := strconv.ParseUint(m.Key, 10, 32)
		if err != nil {
			continue
		}
		set.AddNum(imap.UID(uid))
	}
	cmd := r.c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	for {
		m := cmd.Next()
		if m == nil {
			break
		}
		var uid imap.UID
		var rerr error
		var early []byte // a body that came before its UID
		for {
			item := m.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil {
					break
				}
				// The UID comes first from the servers we know; a body
				// that comes before it is held until it arrives.
				if uid != 0 {
					rerr = fn(strconv.FormatUint(uint64(uid), 10), it.Literal)
				} else {
					early, rerr = io.ReadAll(it.Literal)
				}
				if rerr == nil {
					_, rerr = io.Copy(io.Discard, it.Literal)
				}
			}
			if rerr != nil {
				break
			}
		}
		if rerr == nil && early != nil && uid != 0 {
			rerr = fn(strconv.FormatUint(uint64(uid), 10), bytes.NewReader(early))
		}
		if rerr != nil {
			_ = cmd.Close() // the read error is the one to report
			return fmt.Errorf("reading from %s: %w", r.s.addr, rerr)
		}
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("fetching from %q at %s: %v", r.name, r.s.addr, imapErrText(err))
	}
	return nil
}

func (r *imapFolderReader) Close() error {
	if r.c == nil {
		return nil
	}
	// Leave the folder so the connection can serve the next one (without
	// UNSELECT, the next EXAMINE leaves it; EXAMINE never expunges).
	if !r.c.Caps().Has(imap.CapUnselect) {
		r.s.put(r.c)
	} else if err := r.c.Unselect().Wait(); err != nil {
		r.c.Close()
	} else {
		r.s.put(r.c)
	}
	r.c = nil
	return nil
}
