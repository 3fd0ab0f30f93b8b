package webmail

// The image proxy: remote images of a message the user chose to see are
// fetched by the server, never by the browser, so the sender learns
// neither the reader's address nor a cookie, and the body's CSP names
// only this route.
//
// Only https is fetched (an http URL is asked for over https; plain http
// only when ImageProxyOptions.AllowHTTP, for tests). The host is resolved
// here and every address checked before it is dialled (the connection
// goes to the checked address, so DNS cannot change between check and
// use): loopback, private (RFC 1918, IPv6 ULA), link-local, CGNAT
// (100.64/10), multicast, unspecified, IPv6 site-local and the other
// special ranges of blockedPrefixes are refused. Redirects are followed
// at most maxProxyRedirects times, each dialled through the same check.
// The answer must be an image by its declared type and by its bytes
// (png, jpeg, gif, webp), at most MaxBytes, within Timeout. No cookie,
// referrer or credential is sent.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"boxmail/internal/publicnet"
)

// imageProxyPath is the proxy's route; imagesCSP names it.
const imageProxyPath = "/mail/img"

// maxProxyRedirects caps the redirects of one image.
const maxProxyRedirects = 3

// maxProxyURL caps the length of a proxied URL.
const maxProxyURL = 4096

// maxProxyFetches caps the fetches running at once (a body with hundreds
// of images cannot hold hundreds of MaxBytes buffers).
const maxProxyFetches = 8

// ImageProxyOptions configure the image proxy. The zero value is the
// production setting.
type ImageProxyOptions struct {
	// Off disables remote images altogether ("show images" is not offered).
	Off bool
	// LookupNetIP resolves a host name; nil: net.DefaultResolver. The
	// client (internal/publicnet) dials public addresses only.
	LookupNetIP func(ctx context.Context, host string) ([]netip.Addr, error)
	// Allow lets an otherwise refused address and port be dialled (tests
	// allow their own loopback listener); nil: none.
	Allow func(netip.AddrPort) bool
	// AllowHTTP fetches http URLs as they are instead of over https
	// (tests only).
	AllowHTTP bool
	// TLSConfig is the TLS client config (tests add their root); nil: the
	// system roots.
	TLSConfig *tls.Config
	// MaxBytes caps an image; 0: 5 MiB. Timeout caps a fetch; 0: 10 s.
	MaxBytes int64
	Timeout  time.Duration
}

// imageProxy fetches remote images safely (see the file comment).
type imageProxy struct {
	o      ImageProxyOptions
	client *http.Client
	slots  chan struct{} // one per running fetch
}

// errRefusedAddress is a URL the proxy does not fetch (the address
// checks are publicnet's).
var errRefusedAddress = errors.New("image proxy: refused address")

// errNotImage is an answer that is not an allowed image.
var errNotImage = errors.New("image proxy: not an allowed image")

func newImageProxy(o ImageProxyOptions) *imageProxy {
	if o.Off {
		return nil
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 5 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	p := &imageProxy{o: o, slots: make(chan struct{}, maxProxyFetches)}
	p.client = publicnet.Client(publicnet.Options{Lookup: o.LookupNetIP, Allow: o.Allow, Timeout: o.Timeout,
		TLS: o.TLSConfig, CheckRedirect: p.checkRedirect})
	return p
}

// target checks a URL the proxy is asked for (or redirected to) and
// returns the one it fetches.
func (p *imageProxy) target(u *url.URL) (*url.URL, error) {
	v := *u
	v.Scheme = strings.ToLower(v.Scheme)
	switch {
	case v.Scheme == "http" && !p.o.AllowHTTP:
		v.Scheme = "https"
	case v.Scheme == "https", v.Scheme == "http":
	default:
		return nil, fmt.Errorf("image proxy: scheme %q: %w", v.Scheme, errRefusedAddress)
	}
	if v.Host == "" || v.User != nil {
		return nil, fmt.Errorf("image proxy: no host, or credentials: %w", errRefusedAddress)
	}
	v.Fragment = ""
	return &v, nil
}

// checkRedirect follows at most maxProxyRedirects redirects, each
// checked as the first URL (the dial checks the address), and sends no
// Referer.
func (p *imageProxy) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxProxyRedirects {
		return errors.New("image proxy: too many redirects")
	}
	if req.URL.Scheme != "https" && !p.o.AllowHTTP {
		return fmt.Errorf("image proxy: redirect to %s: %w", req.URL.Scheme, errRefusedAddress)
	}
	if _, err := p.target(req.URL); err != nil {
		return err
	}
	req.Header.Del("Referer")
	req.Header.Del("Cookie")
	req.Header.Del("Authorization")
	return nil
}

// fetch gets one image: its type (sniffed and declared agree) and bytes.
func (p *imageProxy) fetch(ctx context.Context, raw string) (string, []byte, error) {
	if len(raw) > maxProxyURL {
		return "", nil, fmt.Errorf("image proxy: URL too long: %w", errRefusedAddress)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, fmt.Errorf("image proxy: %w", err)
	}
	if u, err = p.target(u); err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	select {
	case p.slots <- struct{}{}:
		defer func() { <-p.slots }()
	case <-ctx.Done():
		return "", nil, fmt.Errorf("image proxy: busy: %w", ctx.Err())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", nil, fmt.Errorf("image proxy: %w", err)
	}
	req.Header.Set("User-Agent", "boxmail-image-proxy")
	req.Header.Set("Accept", "image/png, image/jpeg, image/gif, image/webp")
	res, err := p.client.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer func() { _ = res.Body.Close() }() // read to its cap below; a close error changes nothing
	if res.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("image proxy: status %d: %w", res.StatusCode, errNotImage)
	}
	declared, _, _ := strings.Cut(res.Header.Get("Content-Type"), ";")
	if _, ok := inlineTypes[canonicalType(declared)]; !ok || !strings.HasPrefix(canonicalType(declared), "image/") {
		return "", nil, fmt.Errorf("image proxy: declared %q: %w", declared, errNotImage)
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, p.o.MaxBytes+1))
	if err != nil {
		return "", nil, err
	}
	if int64(len(data)) > p.o.MaxBytes {
		return "", nil, fmt.Errorf("image proxy: over %d bytes: %w", p.o.MaxBytes, errNotImage)
	}
	t, ok := inlineType(declared, data)
	if !ok {
		return "", nil, fmt.Errorf("image proxy: bytes are not %q: %w", declared, errNotImage)
	}
	return t, data, nil
}

// imageProxyPage serves /mail/img?u=URL to a logged-in user.
func (s *Server) imageProxyPage(w http.ResponseWriter, r *http.Request, sess Session) {
	h := w.Header()
	h.Set("Content-Security-Policy", downloadCSP)
	h.Set("Referrer-Policy", "no-referrer")
	if s.proxy == nil {
		http.Error(w, "Remote images are off on this server.", http.StatusNotFound)
		return
	}
	t, data, err := s.proxy.fetch(r.Context(), r.URL.Query().Get("u"))
	if err != nil {
		s.log.Info("webmail image proxy refused or failed", "user", sess.Email, "err", err)
		http.Error(w, "This image cannot be shown.", http.StatusBadGateway)
		return
	}
	h.Set("Content-Type", t)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("Content-Disposition", "inline")
	_, _ = io.Copy(w, bytes.NewReader(data)) // a write error means the client left
}
