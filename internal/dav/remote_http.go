package dav

// The HTTP side of moving in from a live CardDAV/CalDAV server: the
// client (Basic auth, TLS verified unless told otherwise, no redirect to
// another scheme or host with the password), its errors put in words,
// and discovery (RFC 6764 well-known URI, then current-user-principal,
// then the home set, RFC 6352 section 7.1.1 and RFC 4791 section 6.2.1).

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/caldav"
	"github.com/emersion/go-webdav/carddav"

	"boxmail/internal/store"
)

// Errors of a remote import the user acts on.
var (
	// ErrRemoteAuth: the old server answered 401 to the login.
	ErrRemoteAuth = errors.New("the old server refused the login (HTTP 401): check --user and the password")
	// ErrRemoteUnreachable: no connection to the old server.
	ErrRemoteUnreachable = errors.New("cannot reach the old server")
	// ErrRemoteNone: the old server lists no address book or calendar.
	ErrRemoteNone = errors.New("the old server lists no collection of that kind for this login")
)

// remoteHTTP is the client of the old server: it sends Basic auth to the
// server of the URL only, and turns a 401 and a connection failure into
// ErrRemoteAuth and ErrRemoteUnreachable.
type remoteHTTP struct {
	c          *http.Client
	host       string // scheme://host:port the credentials go to
	user, pass string
}

func newRemoteHTTP(u *url.URL, user, pass string, insecure bool) *remoteHTTP {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // --insecure, for a self-signed old server
	tr.ResponseHeaderTimeout = 2 * time.Minute
	r := &remoteHTTP{host: u.Scheme + "://" + u.Host, user: user, pass: pass}
	r.c = &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("more than 5 redirects")
		}
		if req.URL.Scheme+"://"+req.URL.Host != r.host {
			return fmt.Errorf("redirected to another server (%s): give that URL instead", req.URL.Host)
		}
		return nil
	}}
	return r
}

// Do implements webdav.HTTPClient.
func (r *remoteHTTP) Do(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme+"://"+req.URL.Host == r.host {
		req.SetBasicAuth(r.user, r.pass)
	}
	resp, err := r.c.Do(req)
	if err != nil {
		return nil, remoteNetError(err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		_ = resp.Body.Close() // nothing of it is read
		return nil, ErrRemoteAuth
	}
	return resp, nil
}

// remoteNetError says why a request got no answer.
func remoteNetError(err error) error {
	var cert *tls.CertificateVerificationError
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.As(err, &cert):
		return fmt.Errorf("%w: its TLS certificate is not valid (%w); give --insecure for an old server with a self-signed certificate", ErrRemoteUnreachable, cert)
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("%w: %w", ErrRemoteUnreachable, op)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: timed out: %w", ErrRemoteUnreachable, err)
	}
	return err
}

// CheckRemoteURL returns the URL of an old server as ImportRemote reads
// it, or why it refuses it (not http(s), credentials in it).
func CheckRemoteURL(s string) (string, error) {
	u, err := parseRemoteURL(s)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// parseRemoteURL accepts only http and https URLs without credentials.
func parseRemoteURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("not a valid URL") // url.Error would repeat it, password and all
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %s: want http:// or https://", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("URL %s: no host", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("URL %q: give the login with --user and the password with --password-file, not in the URL", u.Redacted())
	}
	if u.Path == "" {
		u.Path = "/"
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// remoteCollection is an address book or calendar of the old server.
type remoteCollection struct {
	Path, DisplayName, Description string
}

// wellKnown follows the old server's /.well-known/carddav (or caldav)
// redirect, for a URL that names only the server; the URL itself when
// there is none.
func (r *remoteHTTP) wellKnown(ctx context.Context, u *url.URL, kind store.DAVKind) *url.URL {
	if u.Path != "/" {
		return u
	}
	svc := "caldav"
	if kind == store.DAVCards {
		svc = "carddav"
	}
	req, err := http.NewRequestWithContext(ctx, "PROPFIND", r.host+"/.well-known/"+svc, nil)
	if err != nil {
		return u
	}
	req.Header.Set("Depth", "0")
	req.SetBasicAuth(r.user, r.pass)
	resp, err := r.c.Transport.RoundTrip(req)
	if err != nil {
		return u
	}
	_ = resp.Body.Close() // only the Location matters
	loc, err := resp.Location()
	if resp.StatusCode/100 != 3 || err != nil || loc.Scheme+"://"+loc.Host != r.host {
		return u
	}
	return loc
}

// discover finds the collections of kind: the one the URL names, or
// every one in the login's home set.
func (r *remoteHTTP) discover(ctx context.Context, u *url.URL, kind store.DAVKind) ([]remoteCollection, error) {
	start := r.wellKnown(ctx, u, kind)
	var home string
	wc, err := webdav.NewClient(r, start.String())
	if err != nil {
		return nil, err
	}
	principal, err := wc.FindCurrentUserPrincipal(ctx)
	if errors.Is(err, ErrRemoteAuth) || errors.Is(err, ErrRemoteUnreachable) {
		return nil, err
	}
	if err == nil {
		home, err = r.homeSet(ctx, start.String(), principal, kind)
		if errors.Is(err, ErrRemoteAuth) || errors.Is(err, ErrRemoteUnreachable) {
			return nil, err
		}
	}
	if err != nil || home == "" {
		home = start.Path // no discovery: the URL is the home set or a collection
	}
	cols, err := r.collections(ctx, start.String(), home, kind)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", home, err)
	}
	if u.Path != "/" && !samePath(home, u.Path) {
		// The URL may name a collection outside the home set (one shared
		// with the login), or a home set discovery did not find.
		named, err := r.collections(ctx, start.String(), u.Path, kind)
		if err != nil && len(cols) == 0 {
			return nil, fmt.Errorf("listing %s: %w", u.Path, err)
		}
		for _, c := range named {
			if samePath(c.Path, u.Path) {
				return []remoteCollection{c}, nil // the URL names this collection
			}
		}
		if len(cols) == 0 {
			cols = named
		}
	}
	for _, c := range cols {
		if samePath(c.Path, u.Path) {
			return []remoteCollection{c}, nil
		}
	}
	if len(cols) == 0 {
		what := "calendar"
		if kind == store.DAVCards {
			what = "address book"
		}
		return nil, fmt.Errorf("%w (no %s in %s)", ErrRemoteNone, what, home)
	}
	return cols, nil
}

// samePath says whether two hrefs' paths name the same collection.
func samePath(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

func (r *remoteHTTP) homeSet(ctx context.Context, endpoint, principal string, kind store.DAVKind) (string, error) {
	if kind == store.DAVCards {
		c, err := carddav.NewClient(r, endpoint)
		if err != nil {
			return "", err
		}
		return c.FindAddressBookHomeSet(ctx, principal)
	}
	c, err := caldav.NewClient(r, endpoint)
	if err != nil {
		return "", err
	}
	return c.FindCalendarHomeSet(ctx, principal)
}

func (r *remoteHTTP) collections(ctx context.Context, endpoint, home string, kind store.DAVKind) ([]remoteCollection, error) {
	var out []remoteCollection
	if kind == store.DAVCards {
		c, err := carddav.NewClient(r, endpoint)
		if err != nil {
			return nil, err
		}
		books, err := c.FindAddressBooks(ctx, home)
		for _, b := range books {
			out = append(out, remoteCollection{Path: b.Path, DisplayName: b.Name, Description: b.Description})
		}
		return out, err
	}
	c, err := caldav.NewClient(r, endpoint)
	if err != nil {
		return nil, err
	}
	cals, err := c.FindCalendars(ctx, home)
	for _, k := range cals {
		out = append(out, remoteCollection{Path: k.Path, DisplayName: k.Name, Description: k.Description})
	}
	return out, err
}

// localName is the box's name for a remote collection: its last path
// segment when that is a valid name, else a hash of its path.
func localName(remotePath string) string {
	base := path.Base(strings.TrimSuffix(remotePath, "/"))
	if store.ValidDAVName(base) && base != "/" {
		return base
	}
	h := sha256.Sum256([]byte(remotePath))
	return "imported-" + hex.EncodeToString(h[:8])
}
