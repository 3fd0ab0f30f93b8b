package webmail

// Unsubscribing from a mailing list (RFC 2369 List-Unsubscribe, RFC 8058
// one-click). The one-click button is offered only when the message has
// an https List-Unsubscribe URI, "List-Unsubscribe-Post:
// List-Unsubscribe=One-Click", and a DKIM signature that passed at
// delivery (the box's own Authentication-Results, trust.go) and covers
// both fields (RFC 8058 4). The box then POSTs "List-Unsubscribe=One-Click"
// to the URI itself: https only, no cookies, no referrer, at most 10 s
// and 64 KiB read, at most 3 redirects (https too), and never to a
// loopback, private, link-local or otherwise non-public address — checked
// on the address actually dialled, after name resolution, so a name
// resolving to 127.0.0.1 is refused like the address itself.
// Otherwise the panel links a mailto: URI to a prefilled compose page and
// an https one to a new tab (noopener, noreferrer).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"boxmail/internal/mailmsg"
	"boxmail/internal/publicnet"
	"boxmail/internal/store"
)

const (
	unsubTimeout  = 10 * time.Second
	unsubMaxRead  = 64 << 10
	unsubMaxURI   = 2048
	unsubRedirect = 3
)

// unsubOffer is how a message may be unsubscribed from.
type unsubOffer struct {
	OneClick bool   // the https URI may be POSTed by the box
	HTTPS    string // an https URI to open
	Compose  string // a compose page prefilled from a mailto: URI
}

// trustPanel is what trust.html shows above a message.
type trustPanel struct {
	Signals []Signal
	Unsub   unsubOffer
	Box     int64
	UID     uint32
	CSRF    string
}

// trustPanel builds the message view's panel (view.go's Trust field).
func (s *Server) trustPanel(ctx context.Context, sess Session, box int64, m store.LoadedMessage) trustPanel {
	hdr := m.Data[:mailmsg.HeaderEnd(m.Data)]
	return trustPanel{Signals: s.trustOf(ctx, sess.AccountID, m), Unsub: unsubscribeOffer(hdr, s.o.Hostname),
		Box: box, UID: m.UID, CSRF: sess.CSRF}
}

// unsubscribeOffer reads a header's List-Unsubscribe fields.
func unsubscribeOffer(header []byte, host string) unsubOffer {
	var o unsubOffer
	f, ok := mailmsg.Lookup(header, "List-Unsubscribe")
	if !ok {
		return o
	}
	for _, part := range strings.Split(string(mailmsg.Unfold(f.Value)), ",") {
		part = strings.TrimSpace(part)
		if !strings.HasPrefix(part, "<") || !strings.HasSuffix(part, ">") || len(part) > unsubMaxURI {
			continue
		}
		raw := strings.TrimSpace(part[1 : len(part)-1])
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		switch strings.ToLower(u.Scheme) {
		case "https":
			if o.HTTPS == "" && u.Host != "" && u.User == nil {
				o.HTTPS = u.String()
			}
		case "mailto":
			if o.Compose == "" {
				o.Compose = composeFromMailto(u)
			}
		}
	}
	post, _ := mailmsg.Lookup(header, "List-Unsubscribe-Post")
	o.OneClick = o.HTTPS != "" && strings.TrimSpace(string(mailmsg.Unfold(post.Value))) == "List-Unsubscribe=One-Click" &&
		dkimCoversUnsubscribe(header, host)
	return o
}

// composeFromMailto is the compose page prefilled from a mailto: URI
// (to, subject, body), or "" when it names no address.
func composeFromMailto(u *url.URL) string {
	to := u.Opaque
	if to == "" {
		to = u.Path
	}
	to, err := url.PathUnescape(to)
	if err != nil || !strings.Contains(to, "@") || strings.ContainsAny(to, ",;<>\r\n") {
		return ""
	}
	q := url.Values{"to": {to}}
	in := u.Query()
	for _, k := range []string{"subject", "body"} {
		if v := in.Get(k); v != "" && len(v) <= 1000 {
			q.Set(k, v)
		}
	}
	if q.Get("subject") == "" {
		q.Set("subject", "unsubscribe")
	}
	return "/mail/compose?" + q.Encode()
}

// dkimCoversUnsubscribe reports whether a DKIM signature that passed at
// delivery (by the box's Authentication-Results: header.d, and header.b
// when given) signs List-Unsubscribe and List-Unsubscribe-Post.
func dkimCoversUnsubscribe(header []byte, host string) bool {
	rs, _, ok := ourAuthResults(header, host)
	if !ok {
		return false
	}
	for f := range mailmsg.Fields(header) {
		if !f.Is("DKIM-Signature") {
			continue
		}
		tags := dkimTags(string(mailmsg.Unfold(f.Value)))
		signed := map[string]bool{}
		for h := range strings.SplitSeq(tags["h"], ":") {
			signed[strings.ToLower(h)] = true
		}
		if !signed["list-unsubscribe"] || !signed["list-unsubscribe-post"] {
			continue
		}
		for _, r := range rs {
			if r.Method == "dkim" && r.Value == "pass" && strings.EqualFold(r.Props["header.d"], tags["d"]) &&
				strings.HasPrefix(tags["b"], r.Props["header.b"]) {
				return true
			}
		}
	}
	return false
}

// dkimTags are a DKIM-Signature's tags, whitespace removed.
func dkimTags(v string) map[string]string {
	out := map[string]string{}
	for t := range strings.SplitSeq(v, ";") {
		k, val, ok := strings.Cut(t, "=")
		if !ok {
			continue
		}
		out[strings.TrimSpace(k)] = strings.Join(strings.Fields(val), "")
	}
	return out
}

// unsubscriber POSTs one-click requests; its zero value is the real one.
type unsubscriber struct {
	// allow lets a non-public address be dialled (tests); nil: none.
	allow func(netip.AddrPort) bool
	// roots verify the server's certificate; nil: the system's.
	tls *tls.Config
}

// client is the HTTP client of one request: public addresses only
// (internal/publicnet), https redirects only.
func (u unsubscriber) client() *http.Client {
	return publicnet.Client(publicnet.Options{Allow: u.allow, Timeout: unsubTimeout, TLS: u.tls, MaxHeaderBytes: unsubMaxRead,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= unsubRedirect || req.URL.Scheme != "https" {
				return errors.New("unsubscribe: too many redirects, or one off https")
			}
			return nil
		}})
}

// post sends the one-click request to target.
func (u unsubscriber) post(ctx context.Context, target string) error {
	t, err := url.Parse(target)
	if err != nil || t.Scheme != "https" || t.Host == "" || t.User != nil {
		return fmt.Errorf("unsubscribe: not an https URI")
	}
	ctx, cancel := context.WithTimeout(ctx, unsubTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.String(), strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "boxmail")
	c := u.client()
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, unsubMaxRead))
	if err := errors.Join(err, resp.Body.Close()); err != nil {
		return fmt.Errorf("unsubscribe: reading the answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("unsubscribe: the list answered %d", resp.StatusCode)
	}
	return nil
}

// unsubscribe is the one-click button: POST /mail/unsubscribe/{box}/{uid}.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request, sess Session) {
	mb, m, err := s.message(r, sess, store.BodyHeader)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	o := unsubscribeOffer(m.Data[:mailmsg.HeaderEnd(m.Data)], s.o.Hostname)
	if !o.OneClick {
		http.Error(w, "This message offers no one-click unsubscribe.", http.StatusBadRequest)
		return
	}
	back := "/mail/msg/" + strconv.FormatInt(mb.ID, 10) + "/" + strconv.FormatUint(uint64(m.UID), 10)
	if err := s.unsub.post(r.Context(), o.HTTPS); err != nil {
		s.log.Info("webmail one-click unsubscribe failed", "user", sess.Email, "err", err)
		http.Redirect(w, r, back+"?note=unsubfailed", http.StatusSeeOther)
		return
	}
	s.log.Info("webmail one-click unsubscribe", "user", sess.Email)
	http.Redirect(w, r, back+"?note=unsubscribed", http.StatusSeeOther)
}
