package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"time"

	"boxmail/internal/mailauth"
	"boxmail/internal/sieve"
	"boxmail/internal/store"
)

// SieveOptions turn on Sieve filtering at local delivery.
type SieveOptions struct {
	// SRS rewrites the sender of redirected copies; nil sends them with
	// the original sender (which fails SPF at most destinations).
	SRS *mailauth.SRS
	// MaxRedirects per message per script run (default 10).
	MaxRedirects int
	// CreateFolders lets fileinto create a missing mailbox; otherwise the
	// message goes to INBOX.
	CreateFolders bool
	// VacationMaxDays caps vacation :days (default 30).
	VacationMaxDays int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// MaxBodyBytes, MaxWork and Timeout bound one script run (see
	// sieve.RunOptions; zero: the sieve package's defaults). A run past
	// MaxWork or Timeout keeps the message in INBOX and is logged.
	MaxBodyBytes int
	MaxWork      int64
	Timeout      time.Duration
}

// LoopHeader marks a copy the box redirected; a message that carries it
// for the same account is not redirected again.
const LoopHeader = "X-Boxmail-Loop"

// maxReceived: a message that went through more hops is not redirected.
const maxReceived = 30

// runSieve rewrites del by the active script of each local account whose
// copy goes to INBOX: other mailboxes, discards, redirects and vacation
// replies. A script that cannot be loaded, parsed or run leaves that
// account's copy in INBOX and logs why: no message is lost to a filter.
// It reports whether nothing at all is left to store. The script and
// account of accs (read at RCPT, resolve) are used; an account not in
// accs is read from the store.
func (d *Deliverer) runSieve(ctx context.Context, sender string, del *store.Delivery, accs recipientAccounts) (empty bool) {
	o := d.sieve
	if o == nil {
		return false
	}
	var local []store.LocalTarget
	var parsed *sieve.Message
	for _, t := range del.Local {
		if t.Mailbox != "" {
			local = append(local, t)
			continue
		}
		ts, err := d.sieveAccount(ctx, o, sender, del, t, accs[t.AccountID], &parsed)
		if errors.Is(err, sieve.ErrBudget) {
			d.log.Warn("sieve budget exceeded, keeping in INBOX", "account", t.AccountID, "err", err)
			ts = []store.LocalTarget{t}
		} else if err != nil {
			d.log.Warn("sieve failed, keeping in INBOX", "account", t.AccountID, "err", err)
			ts = []store.LocalTarget{t}
		}
		local = append(local, ts...)
	}
	del.Local = local
	return len(del.Local) == 0 && len(del.Remote) == 0 && len(del.Copies) == 0
}

// sieveAccount runs one account's script and returns its local copies,
// appending redirects and replies to del.Copies.
func (d *Deliverer) sieveAccount(ctx context.Context, o *SieveOptions, sender string, del *store.Delivery, t store.LocalTarget, ra *store.RecipientAccount, parsed **sieve.Message) ([]store.LocalTarget, error) {
	if ra == nil {
		r, err := d.st.RecipientAccountByID(ctx, t.AccountID)
		if err != nil {
			return nil, err
		}
		ra = &r
	}
	if ra.Script == nil {
		return []store.LocalTarget{t}, nil
	}
	sc, acc := *ra.Script, ra.Account
	script, err := sieve.Parse(sc.Content)
	if err != nil {
		return nil, fmt.Errorf("script %q: %w", sc.Name, err)
	}
	if *parsed == nil {
		*parsed = sieve.ParseMessage(del.Data, sender, "")
		addSpamFields((*parsed).Header, del.Trace) // spam.go
	}
	m := *(*parsed)
	m.To = acc.Email
	now := o.Now()
	acts, err := script.Run(&m, sieve.RunOptions{MaxRedirects: o.MaxRedirects, MaxDays: o.VacationMaxDays, Now: now,
		MaxBodyBytes: o.MaxBodyBytes, MaxWork: o.MaxWork, Timeout: o.Timeout})
	if err != nil {
		return nil, fmt.Errorf("script %q: %w", sc.Name, err)
	}
	var out []store.LocalTarget
	var copies []store.QueuedCopy
	var redirects []string
	for _, a := range acts {
		switch a := a.(type) {
		case sieve.Keep:
			out = append(out, withFlags(t, "", a.Flags, false))
		case sieve.FileInto:
			out = append(out, withFlags(t, a.Mailbox, a.Flags, o.CreateFolders))
		case sieve.Discard:
			d.log.Info("sieve discarded a copy", "account", acc.Email, "script", sc.Name)
		case sieve.Redirect:
			redirects = append(redirects, a.Address)
		case sieve.Vacation:
			c, ok, why := d.vacationReply(ctx, o, acc, a, &m, now)
			if !ok {
				d.log.Debug("no vacation reply", "account", acc.Email, "why", why)
				continue
			}
			copies = append(copies, c)
		}
	}
	if len(redirects) > 0 {
		c, err := d.redirectCopy(ctx, o, sender, acc.Email, redirects, &m, del.Data, now)
		if err != nil {
			return nil, err
		}
		copies = append(copies, c)
	}
	del.Copies = append(del.Copies, copies...)
	return out, nil
}

func withFlags(t store.LocalTarget, mailbox string, flags []string, create bool) store.LocalTarget {
	t.Mailbox, t.Create = mailbox, create
	for _, f := range flags {
		switch strings.ToLower(f) {
		case `\seen`:
			t.Flags |= store.FlagSeen
		case `\answered`:
			t.Flags |= store.FlagAnswered
		case `\flagged`:
			t.Flags |= store.FlagFlagged
		case `\deleted`:
			t.Flags |= store.FlagDeleted
		case `\draft`:
			t.Flags |= store.FlagDraft
		default:
			if !strings.HasPrefix(f, `\`) && !slices.Contains(t.Keywords, f) {
				t.Keywords = append(t.Keywords, f)
			}
		}
	}
	return t
}

// redirectCopy is the queue entry of an account's redirects: the message
// with a loop mark and the box's DKIM signature, from the SRS-rewritten
// sender, once for all the addresses (one copy of a big message, not
// one per redirect).
func (d *Deliverer) redirectCopy(ctx context.Context, o *SieveOptions, sender, account string, to []string, m *sieve.Message, data []byte, now time.Time) (store.QueuedCopy, error) {
	for _, v := range m.Header[LoopHeader] {
		if strings.EqualFold(strings.TrimSpace(v), account) {
			d.st.Record(store.EventLoop) // the health history (store/history.go)
			return store.QueuedCopy{}, fmt.Errorf("redirect loop: the message was already redirected by %s", account)
		}
	}
	if len(m.Header["Received"]) > maxReceived {
		d.st.Record(store.EventLoop) // the health history (store/history.go)
		return store.QueuedCopy{}, fmt.Errorf("redirect loop: %d Received fields", len(m.Header["Received"]))
	}
	var rcpts []string
	for _, t := range to {
		a, err := ParseAddress(strings.TrimSpace(t))
		if err != nil {
			return store.QueuedCopy{}, fmt.Errorf("redirect to %q: %w", t, err)
		}
		if strings.EqualFold(a.String(), account) {
			return store.QueuedCopy{}, fmt.Errorf("redirect to the account itself")
		}
		rcpts = appendNew(rcpts, a.String())
	}
	domain := account[strings.LastIndexByte(account, '@')+1:]
	from := sender
	var err error
	if o.SRS != nil && sender != "" {
		if from, err = o.SRS.Forward(sender, domain, now); err != nil {
			return store.QueuedCopy{}, err
		}
	}
	msg := append([]byte(LoopHeader+": "+account+"\r\n"), data...)
	sig, err := d.DKIMSign(ctx, msg, domain)
	if err != nil {
		d.log.Warn("DKIM signing a redirect failed; sending it unsigned", "domain", domain, "err", err)
	}
	msg = append(sig, msg...)
	return store.QueuedCopy{Sender: from, Recipients: rcpts, Data: msg}, nil
}

// vacationReply builds the auto-reply unless RFC 5230 4.5 and 4.6 say not
// to answer: a null or robot sender, a list or bulk message, an automatic
// message, or one that does not name the account among its recipients.
func (d *Deliverer) vacationReply(ctx context.Context, o *SieveOptions, acc store.Account, v sieve.Vacation, m *sieve.Message, now time.Time) (store.QueuedCopy, bool, string) {
	sender := strings.ToLower(m.From)
	if sender == "" {
		return store.QueuedCopy{}, false, "null sender"
	}
	local := sender[:max(0, strings.LastIndexByte(sender, '@'))]
	for _, robot := range []string{"mailer-daemon", "postmaster", "listserv", "majordomo", "owner-", "-request", "noreply", "no-reply", "bounce"} {
		if strings.HasPrefix(local, robot) || strings.HasSuffix(local, robot) {
			return store.QueuedCopy{}, false, "robot sender"
		}
	}
	h := m.Header
	if as := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); as != "" && as != "no" {
		return store.QueuedCopy{}, false, "Auto-Submitted"
	}
	for _, k := range []string{"List-Id", "List-Unsubscribe", "List-Post", "List-Help", "X-Auto-Response-Suppress"} {
		if h.Get(k) != "" {
			return store.QueuedCopy{}, false, k
		}
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Precedence"))) {
	case "bulk", "list", "junk":
		return store.QueuedCopy{}, false, "Precedence"
	}
	mine := append([]string{acc.Email}, v.Addresses...)
	if slices.ContainsFunc(mine, func(a string) bool { return strings.EqualFold(a, sender) }) {
		return store.QueuedCopy{}, false, "sender is the account"
	}
	named := false
	for _, k := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"} {
		for _, val := range h[k] {
			l, err := mail.ParseAddressList(val)
			if err != nil {
				continue
			}
			for _, a := range l {
				if slices.ContainsFunc(mine, func(x string) bool { return strings.EqualFold(x, a.Address) }) {
					named = true
				}
			}
		}
	}
	if !named {
		return store.QueuedCopy{}, false, "the account is not a visible recipient"
	}
	for _, p := range v.Problems {
		d.log.Warn("sieve: part of a vacation action ignored", "account", acc.Email, "why", p)
	}
	if v.Refused != "" {
		d.log.Warn("sieve: vacation reply not sent", "account", acc.Email, "why", v.Refused)
		return store.QueuedCopy{}, false, v.Refused
	}
	from := d.vacationFrom(ctx, acc, v.From)
	subject := v.Subject
	if subject == "" {
		subject = "Auto: " + strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return ' '
			}
			return r
		}, decodeSubject(h.Get("Subject")))
	}
	var b bytes.Buffer
	w := func(f string, a ...any) { fmt.Fprintf(&b, f+"\r\n", a...) }
	w("From: %s", from)
	w("To: %s", m.From)
	w("Subject: %s", mime.QEncoding.Encode("utf-8", subject))
	w("Date: %s", now.Format(time.RFC1123Z))
	w("Message-ID: %s", newMessageID(d.hostname))
	if id := strings.TrimSpace(h.Get("Message-Id")); id != "" {
		w("In-Reply-To: %s", id)
		w("References: %s", strings.TrimSpace(h.Get("References")+" "+id))
	}
	w("Auto-Submitted: auto-replied (vacation)")
	w("MIME-Version: 1.0")
	// Every line ends in CRLF: no bare CR or LF from a script goes out.
	reason := strings.NewReplacer("\r\n", "\r\n", "\r", "\r\n", "\n", "\r\n").Replace(v.Reason)
	if v.Mime {
		b.WriteString(reason)
	} else {
		w("Content-Type: text/plain; charset=utf-8")
		w("Content-Transfer-Encoding: 8bit")
		w("")
		b.WriteString(reason)
		if !strings.HasSuffix(reason, "\r\n") {
			b.WriteString("\r\n")
		}
	}
	domain := acc.Email[strings.LastIndexByte(acc.Email, '@')+1:]
	msg := b.Bytes()
	if sig, err := d.DKIMSign(ctx, msg, domain); err == nil {
		msg = append(sig, msg...)
	}
	hh := sha256.Sum256([]byte(v.Handle))
	return store.QueuedCopy{
		Sender: "", Recipients: []string{m.From}, Data: msg,
		Once: &store.Once{AccountID: acc.ID, Handle: hex.EncodeToString(hh[:8]), Sender: sender, At: now, Until: now.Add(time.Duration(v.Days) * 24 * time.Hour)},
	}, true, ""
}

// vacationFrom is the From of a vacation reply: the script's :from when
// it is one address the account may send as (the submission rule,
// MayUseSender), else the account's own address; an ignored :from is
// logged.
func (d *Deliverer) vacationFrom(ctx context.Context, acc store.Account, written string) string {
	if written == "" {
		return acc.Email
	}
	header, addr, ok := sieve.SenderAddress(written)
	if !ok {
		d.log.Warn("sieve: vacation :from ignored: not one address", "account", acc.Email, "from", written)
		return acc.Email
	}
	may, err := d.MayUseSender(ctx, acc.Email, addr)
	if err != nil || !may {
		d.log.Warn("sieve: vacation :from ignored: the account may not send as it", "account", acc.Email, "from", addr, "err", err)
		return acc.Email
	}
	return header
}

func decodeSubject(s string) string {
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// resolveSRS routes a bounce to one of the box's SRS addresses back to
// the original sender (ok false: not an SRS address).
func (d *Deliverer) resolveSRS(a Address) (Route, bool, error) {
	o := d.sieve
	if o == nil || o.SRS == nil || !mailauth.IsSRS(a.Local) {
		return Route{}, false, nil
	}
	orig, err := o.SRS.Reverse(a.Local, o.Now())
	if err != nil {
		d.log.Info("refused an SRS address", "rcpt", a.String(), "err", err)
		return Route{}, true, ErrUnknownRecipient
	}
	return Route{Remote: []string{orig}}, true, nil
}
