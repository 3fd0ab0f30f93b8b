package imapd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"boxmail/internal/store"
)

// session is one IMAP connection. go-imap calls its methods one at a
// time (Idle runs alone until DONE), so it needs no lock of its own.
type session struct {
	srv    *Server
	conn   *imapserver.Conn
	origin uintptr // marks this session's writes in the change feed
	log    *slog.Logger

	acct store.Account // zero until login
	feed *accountFeed
	sel  *selection // nil unless a mailbox is selected

	// updates is the last update writer go-imap handed us that may write
	// EXPUNGE; MOVE uses it to flush its own expunges before the tagged OK.
	updates *imapserver.UpdateWriter

	checkedOpen time.Time // when stillOpen last asked the store
	// kick is closed when the account is disabled (accountFeed.kicked).
	kick <-chan struct{}
}

var (
	_ imapserver.Session            = (*session)(nil)
	_ imapserver.SessionIMAP4rev2   = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
)

// opTimeout bounds one store operation of a command.
const opTimeout = time.Minute

// ctx bounds one store operation of a command; Shutdown cancels it.
func (sess *session) ctx() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(sess.srv.ctx, opTimeout)
	return store.WithOrigin(ctx, sess.origin), cancel
}

func (sess *session) Close() error {
	if sess.sel != nil {
		sess.unselect()
	}
	if sess.feed != nil {
		sess.srv.feeds.release(sess.acct.ID, sess.feed)
		sess.feed = nil
	}
	sess.srv.sessions.Done()
	return nil
}

// Login checks the full email address and password with the store.
func (sess *session) Login(username, password string) error {
	if qc, ok := sess.conn.NetConn().(*quotaConn); ok && qc.starttls != nil && !sess.srv.opts.InsecureAuth {
		return errPrivacyRequired // the wrapper refuses first; this is the backstop
	}
	ctx, cancel := sess.ctx()
	defer cancel()
	var acct store.Account
	err := sess.srv.opts.Guard.Login(ctx, remoteIP(sess.conn), username, password, func() (err error) {
		acct, err = sess.srv.opts.Store.AuthenticateDevice(ctx, username, password, store.LoginRecord{Protocol: "imap", Addr: remoteIP(sess.conn).String()})
		return err
	})
	if errors.Is(err, store.ErrAuthFailed) {
		sess.log.Info("imap login failed", "user", username)
		return imapserver.ErrAuthFailed
	} else if err != nil {
		sess.log.Error("imap login: store error", "user", username, "err", err)
		return errInternal
	}
	sess.acct = acct
	sess.checkedOpen = time.Now() // Login just checked it
	sess.log = sess.log.With("account", acct.Email)
	sess.feed = sess.srv.feeds.acquire(acct.ID)
	sess.kick = sess.feed.kicked()
	sess.log.Info("imap login")
	return nil
}

// remoteIP is a connection's client address, for the login limiter.
func remoteIP(c *imapserver.Conn) netip.Addr {
	ap, _ := netip.ParseAddrPort(c.NetConn().RemoteAddr().String())
	return ap.Addr().Unmap()
}

const delim = '/'

func (sess *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}, nil
}

func (sess *session) Create(name string, options *imap.CreateOptions) error {
	var use string
	if options != nil && len(options.SpecialUse) > 0 {
		if len(options.SpecialUse) > 1 || !isSpecialUse(options.SpecialUse[0]) {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCode("USEATTR"), Text: "Unsupported special-use attribute"}
		}
		use = string(options.SpecialUse[0])
	}
	ctx, cancel := sess.ctx()
	defer cancel()
	return sess.storeError("create", sess.srv.opts.Store.CreateMailbox(ctx, sess.acct.ID, strings.TrimSuffix(name, string(delim)), use))
}

func isSpecialUse(a imap.MailboxAttr) bool {
	switch a {
	case imap.MailboxAttrAll, imap.MailboxAttrArchive, imap.MailboxAttrDrafts, imap.MailboxAttrFlagged,
		imap.MailboxAttrJunk, imap.MailboxAttrSent, imap.MailboxAttrTrash:
		return true
	}
	return false
}

func (sess *session) Delete(name string) error {
	ctx, cancel := sess.ctx()
	defer cancel()
	return sess.storeError("delete", sess.srv.opts.Store.DeleteMailbox(ctx, sess.acct.ID, name))
}

func (sess *session) Rename(name, newName string, options *imap.RenameOptions) error {
	ctx, cancel := sess.ctx()
	defer cancel()
	return sess.storeError("rename", sess.srv.opts.Store.RenameMailbox(ctx, sess.acct.ID, name, newName))
}

func (sess *session) Subscribe(name string) error {
	ctx, cancel := sess.ctx()
	defer cancel()
	return sess.storeError("subscribe", sess.srv.opts.Store.SetSubscribed(ctx, sess.acct.ID, name, true))
}

func (sess *session) Unsubscribe(name string) error {
	ctx, cancel := sess.ctx()
	defer cancel()
	return sess.storeError("unsubscribe", sess.srv.opts.Store.SetSubscribed(ctx, sess.acct.ID, name, false))
}

// List answers LIST and LSUB (with LIST-EXTENDED selection and return
// options, SPECIAL-USE attributes and LIST-STATUS).
func (sess *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 {
		// LIST "" "": the hierarchy delimiter and root (RFC 3501 6.3.8).
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	ctx, cancel := sess.ctx()
	defer cancel()
	mbs, err := sess.srv.opts.Store.Mailboxes(ctx, sess.acct.ID)
	if err != nil {
		return sess.storeError("list", err)
	}
	for i, p := range patterns {
		// INBOX is case-insensitive (RFC 3501 5.1).
		if ref == "" && len(p) >= 5 && strings.EqualFold(p[:5], "INBOX") && (len(p) == 5 || p[5] == delim) {
			patterns[i] = "INBOX" + p[5:]
		}
	}
	for _, mb := range mbs {
		if !slices.ContainsFunc(patterns, func(p string) bool { return imapserver.MatchList(mb.Name, delim, ref, p) }) {
			continue
		}
		if options.SelectSubscribed && !mb.Subscribed {
			continue
		}
		if options.SelectSpecialUse && mb.SpecialUse == "" {
			continue
		}
		data := &imap.ListData{Delim: delim, Mailbox: mb.Name}
		if hasChildren(mbs, mb.Name) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if mb.SpecialUse != "" {
			data.Attrs = append(data.Attrs, imap.MailboxAttr(mb.SpecialUse))
		}
		if mb.Subscribed && (options.ReturnSubscribed || options.SelectSubscribed) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if options.ReturnStatus != nil {
			data.Status, err = sess.status(ctx, mb, options.ReturnStatus)
			if err != nil {
				return err
			}
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

func hasChildren(mbs []store.Mailbox, name string) bool {
	prefix := name + string(delim)
	return slices.ContainsFunc(mbs, func(m store.Mailbox) bool { return strings.HasPrefix(m.Name, prefix) })
}

func (sess *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	ctx, cancel := sess.ctx()
	defer cancel()
	mb, err := sess.srv.opts.Store.MailboxByName(ctx, sess.acct.ID, name)
	if err != nil {
		return nil, sess.storeError("status", err)
	}
	return sess.status(ctx, mb, options)
}

func (sess *session) status(ctx context.Context, mb store.Mailbox, options *imap.StatusOptions) (*imap.StatusData, error) {
	if options.DeletedStorage {
		// QUOTA (RFC 9208) is not offered; go-imap would write a nil.
		return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Unknown STATUS data item"}
	}
	c, err := sess.srv.opts.Store.Counts(ctx, mb.ID)
	if err != nil {
		return nil, sess.storeError("status", err)
	}
	return &imap.StatusData{
		Mailbox:     mb.Name,
		NumMessages: &c.Messages,
		NumRecent:   &c.Recent,
		UIDNext:     imap.UID(mb.UIDNext),
		UIDValidity: mb.UIDValidity,
		NumUnseen:   &c.Unseen,
		NumDeleted:  &c.Deleted,
		Size:        &c.Size,
	}, nil
}

// AppendLimit is the APPENDLIMIT (RFC 7889) go-imap advertises and
// enforces: an APPEND announced above it gets NO [TOOBIG] instead of the
// continuation request. (On IMAPS the connection wrapper answers first,
// and also reads past the bytes of a refused LITERAL+; appendCheck.)
func (sess *session) AppendLimit() uint32 { return uint32(sess.srv.opts.MaxMessageBytes) }

// Append stores a message (UIDPLUS: answers APPENDUID). The quota is
// checked before a byte of the message is read, and a large message is
// streamed into a body file rather than held in memory: the announced
// size is the client's word, so nothing is set aside for it in advance.
func (sess *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	size := r.Size()
	if size > sess.srv.opts.MaxMessageBytes {
		return nil, errTooBig(sess.srv.opts.MaxMessageBytes) // go-imap refuses these first
	}
	if err := sess.quotaFits(size); err != nil {
		return nil, err // go-imap reads past the literal, keeping nothing
	}
	st := sess.srv.opts.Store
	var data []byte
	var spooled *store.SpooledBody
	if fileMin := st.FileBodyMin(); fileMin < 0 || size < fileMin {
		data = make([]byte, size) // small: at most FileBodyMin (256 KiB)
		if n, err := io.ReadFull(r, data); err != nil {
			return nil, sess.literalError(int64(n), size, err)
		}
	} else {
		w, err := st.NewBodyWriter()
		if err != nil {
			return nil, sess.storeError("append", err)
		}
		n, rerr, werr := copyLiteral(w, r)
		if werr != nil {
			w.Abort()
			return nil, sess.storeError("append", werr)
		}
		if rerr != nil || n != size {
			w.Abort()
			return nil, sess.literalError(n, size, rerr)
		}
		if spooled, err = w.Finish(); err != nil {
			return nil, sess.storeError("append", err)
		}
	}
	names := make([]string, len(options.Flags))
	for i, f := range options.Flags {
		names[i] = string(f)
	}
	f, kw := store.ParseFlags(names)
	t := options.Time
	if t.IsZero() {
		t = time.Now()
	}
	ctx, cancel := sess.ctx()
	defer cancel()
	var uid, uidValidity uint32
	var err error
	if spooled != nil {
		uid, uidValidity, err = st.AppendSpooled(ctx, sess.acct.ID, name, spooled, f, kw, t)
	} else {
		uid, uidValidity, err = st.Append(ctx, sess.acct.ID, name, data, f, kw, t)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, errTryCreate
	} else if err != nil {
		return nil, sess.storeError("append", err)
	}
	sess.feed.pump()
	return &imap.AppendData{UID: imap.UID(uid), UIDValidity: uidValidity}, nil
}

// quotaFits refuses a message of size bytes that would not fit the
// account's quota.
func (sess *session) quotaFits(size int64) error {
	ctx, cancel := sess.ctx()
	defer cancel()
	ok, _, err := sess.srv.opts.Store.QuotaFits(ctx, sess.acct.ID, size)
	if err != nil {
		return sess.storeError("append", err)
	}
	if !ok {
		return errOverQuota
	}
	return nil
}

// literalError is the answer to a literal that did not arrive whole.
func (sess *session) literalError(got, size int64, err error) error {
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err // the connection broke; go-imap ends it
	}
	// The literal reader ends with a plain EOF when the client goes away
	// mid-literal: never store part of a message.
	sess.log.Info("imap append: message shorter than announced", "got", got, "announced", size)
	return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Message shorter than announced"}
}

// copyLiteral copies r to w through one small buffer, telling a read
// error (the client's) from a write error (the store's).
func copyLiteral(w io.Writer, r io.Reader) (n int64, rerr, werr error) {
	buf := make([]byte, 64<<10)
	for {
		k, err := r.Read(buf)
		if k > 0 {
			if _, werr = w.Write(buf[:k]); werr != nil {
				return n, nil, werr
			}
			n += int64(k)
		}
		if errors.Is(err, io.EOF) {
			return n, nil, nil
		} else if err != nil {
			return n, err, nil
		}
	}
}

var errTryCreate = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}

// Poll writes pending mailbox updates (after each command).
func (sess *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if err := sess.stillOpen(); err != nil {
		return err
	}
	if allowExpunge {
		sess.updates = w
	}
	if sess.sel == nil {
		return nil
	}
	sess.feed.pump()
	return sess.sel.view.tracker.Poll(w, allowExpunge)
}

// Idle pushes updates until the client sends DONE.
func (sess *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	sess.updates = w
	if sess.sel == nil {
		for {
			select {
			case <-sess.kick:
				if err := sess.stillOpen(); err != nil {
					return err
				}
			case <-stop:
				return nil
			}
		}
	}
	// Not SessionTracker.Idle: it only wakes for updates queued after it
	// starts, so one queued just before IDLE would wait for the next.
	v := sess.sel.view
	check := time.NewTicker(sess.srv.opts.OpenCheckEvery)
	defer check.Stop()
	for {
		if err := v.tracker.Poll(w, true); err != nil {
			return err
		}
		select {
		case <-v.notify:
		case <-check.C:
			if err := sess.stillOpen(); err != nil {
				return err
			}
		case <-sess.kick:
			if err := sess.stillOpen(); err != nil {
				return err
			}
		case <-stop:
			return nil
		}
	}
}

// errAccountClosed ends a session whose account was disabled.
var errAccountClosed = errors.New("account disabled while logged in")

// stillOpen says goodbye to the client (BYE, connection closed) when the
// account was disabled since the last check (by the admin panel, or by
// `boxmail user disable` from another process), asking at once when the
// change feed told of a disabling (kick) and otherwise at most every
// Options.OpenCheckEvery, in case the feed missed one. A phone keeps its
// IMAP connection for days: it must not keep reading mail after the admin
// closed the account.
func (sess *session) stillOpen() error {
	if sess.acct.ID == 0 {
		return nil
	}
	select {
	case <-sess.kick:
		sess.kick = sess.feed.kicked()
	default:
		if time.Since(sess.checkedOpen) < sess.srv.opts.OpenCheckEvery {
			return nil
		}
	}
	sess.checkedOpen = time.Now()
	ctx, cancel := sess.ctx()
	defer cancel()
	off, err := sess.srv.opts.Store.AccountDisabled(ctx, sess.acct.ID)
	if err != nil || !off {
		return nil // a store error is not a reason to cut a session
	}
	sess.log.Info("imap session closed: account disabled")
	// The session ends with errAccountClosed whether or not the client got the BYE.
	_ = sess.conn.Bye("This account has been disabled")
	return errAccountClosed
}
