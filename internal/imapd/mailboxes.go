package imapd

import (
	"context"
	"slices"
	"strings"

	"boxmail/internal/imapd/wire"
	"boxmail/internal/store"
)

func (c *conn) cmdCreate(cmd *wire.Command) (string, error) {
	args := cmd.Args.(*wire.Create)
	use := ""
	if len(args.Use) > 0 {
		if len(args.Use) > 1 || !isSpecialUse(args.Use[0]) {
			return "", no("USEATTR", "Unsupported special-use attribute")
		}
		use = args.Use[0]
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	name := strings.TrimSuffix(args.Mailbox, string(delim))
	return "", c.storeError("create", c.srv.opts.Store.CreateMailbox(ctx, c.acct.ID, name, use))
}

func isSpecialUse(a string) bool {
	switch a {
	case `\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Junk`, `\Sent`, `\Trash`:
		return true
	}
	return false
}

func (c *conn) cmdDelete(cmd *wire.Command) (string, error) {
	ctx, cancel := c.opCtx()
	defer cancel()
	return "", c.storeError("delete", c.srv.opts.Store.DeleteMailbox(ctx, c.acct.ID, cmd.Args.(*wire.Mailbox).Name))
}

func (c *conn) cmdRename(cmd *wire.Command) (string, error) {
	args := cmd.Args.(*wire.Rename)
	ctx, cancel := c.opCtx()
	defer cancel()
	return "", c.storeError("rename", c.srv.opts.Store.RenameMailbox(ctx, c.acct.ID, args.From, args.To))
}

// cmdSubscribe answers SUBSCRIBE and UNSUBSCRIBE. A subscription is a
// name (store/subscription.go): it outlives DELETE and RENAME, and
// UNSUBSCRIBE of a name not subscribed is OK. SUBSCRIBE wants a mailbox
// of that name, as Dovecot does (RFC 9051 6.3.7 lets a server check).
func (c *conn) cmdSubscribe(cmd *wire.Command) (string, error) {
	ctx, cancel := c.opCtx()
	defer cancel()
	name := cmd.Args.(*wire.Mailbox).Name
	on := cmd.Name == "SUBSCRIBE"
	if on {
		if _, err := c.srv.opts.Store.MailboxByName(ctx, c.acct.ID, name); err != nil {
			return "", c.storeError("subscribe", err)
		}
	}
	return "", c.storeError("subscribe", c.srv.opts.Store.SetSubscribed(ctx, c.acct.ID, name, on))
}

// listQuery is a LIST or LSUB and its options (RFC 5258).
type listQuery struct {
	lsub                     bool
	subscribed, specialUse   bool // selection options
	recursive                bool // RECURSIVEMATCH
	retSubscribed, retStatus bool
	status                   []string
	patterns                 []string
}

func newListQuery(cmd *wire.Command) (*listQuery, error) {
	args := cmd.Args.(*wire.List)
	q := &listQuery{lsub: cmd.Name == "LSUB", status: args.Status, retStatus: args.Status != nil}
	for _, o := range args.Select {
		switch o {
		case "SUBSCRIBED":
			q.subscribed = true
		case "SPECIAL-USE":
			q.specialUse = true
		case "RECURSIVEMATCH":
			q.recursive = true
		case "REMOTE":
		default:
			return nil, bad("Unknown LIST selection option " + cut(o, 32))
		}
	}
	if q.recursive && !q.subscribed && !q.specialUse {
		return nil, bad("RECURSIVEMATCH needs another selection option")
	}
	for _, o := range args.Return {
		switch o {
		case "SUBSCRIBED":
			q.retSubscribed = true
		case "CHILDREN", "SPECIAL-USE", "MYRIGHTS":
		default:
			return nil, bad("Unknown LIST return option " + cut(o, 32))
		}
	}
	for _, p := range args.Patterns {
		q.patterns = append(q.patterns, canonicalPattern(args.Reference, p))
	}
	return q, nil
}

// canonicalPattern joins the reference and the pattern, and writes
// INBOX, which is case-insensitive, in upper case (RFC 3501 5.1).
func canonicalPattern(ref, p string) string {
	if ref != "" && !strings.HasPrefix(p, string(delim)) {
		if !strings.HasSuffix(ref, string(delim)) && p != "" {
			ref += string(delim)
		}
		p = ref + p
	}
	if len(p) >= 5 && strings.EqualFold(p[:5], "INBOX") && (len(p) == 5 || p[5] == delim) {
		p = "INBOX" + p[5:]
	}
	return p
}

// cmdList answers LIST and LSUB (with LIST-EXTENDED selection and return
// options, SPECIAL-USE attributes and LIST-STATUS).
func (c *conn) cmdList(cmd *wire.Command) (string, error) {
	q, err := newListQuery(cmd)
	if err != nil {
		return "", err
	}
	if len(q.patterns) == 1 && q.patterns[0] == "" && !q.subscribed && !q.specialUse {
		// LIST "" "": the hierarchy delimiter and root (RFC 3501 6.3.8).
		return "", c.enc.List(wire.ListItem{LSUB: q.lsub, Attrs: []string{`\Noselect`}, Delim: delim})
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	mbs, err := c.srv.opts.Store.Mailboxes(ctx, c.acct.ID)
	if err != nil {
		return "", c.storeError("list", err)
	}
	var subs []string
	if q.lsub || q.subscribed || q.retSubscribed {
		if subs, err = c.srv.opts.Store.Subscriptions(ctx, c.acct.ID); err != nil {
			return "", c.storeError("list", err)
		}
	}
	for _, it := range q.items(listEntries(mbs, subs, q.lsub || q.subscribed), mbs, subs) {
		if err := c.enc.List(it.item); err != nil {
			return "", errEnd
		}
		if q.retStatus && it.mb != nil {
			if err := c.writeStatus(ctx, *it.mb, q.status); err != nil {
				return "", err
			}
		}
	}
	return "", nil
}

type listed struct {
	item wire.ListItem
	mb   *store.Mailbox
}

// listEntry is a name LIST or LSUB may show: a mailbox's, a subscribed
// one, both, or the parent of a subscribed one.
type listEntry struct {
	name       string
	mb         *store.Mailbox // nil: no mailbox has the name
	subscribed bool
}

// listEntries merges the mailboxes and the subscribed names, sorted by
// name. With withSubs (LSUB, LIST (SUBSCRIBED)) the subscribed names that
// are no mailbox's are entries too (\NonExistent, RFC 5258), and so are
// their parents, where "%" may stop (RFC 3501 6.3.9, RFC 5258 3.5).
func listEntries(mbs []store.Mailbox, subs []string, withSubs bool) []listEntry {
	byName := make(map[string]*listEntry, len(mbs)+len(subs))
	for i := range mbs {
		byName[mbs[i].Name] = &listEntry{name: mbs[i].Name, mb: &mbs[i]}
	}
	for _, name := range subs {
		if e := byName[name]; e != nil {
			e.subscribed = true
			continue
		}
		if !withSubs {
			continue
		}
		byName[name] = &listEntry{name: name, subscribed: true}
		for i := range len(name) {
			if name[i] == delim && byName[name[:i]] == nil {
				byName[name[:i]] = &listEntry{name: name[:i]}
			}
		}
	}
	out := make([]listEntry, 0, len(byName))
	for _, e := range byName {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b listEntry) int { return strings.Compare(a.name, b.name) })
	return out
}

// items selects the entries a list query names, with their attributes.
func (q *listQuery) items(entries []listEntry, mbs []store.Mailbox, subs []string) []listed {
	var out []listed
	for i := range entries {
		e := &entries[i]
		if !q.matches(e.name) {
			continue
		}
		it := wire.ListItem{LSUB: q.lsub, Delim: delim, Name: e.name}
		selectedBy := q.selects(e)
		hidden := (q.lsub || q.recursive && q.subscribed) && q.unlistedSubscribedChild(subs, e.name)
		if !selectedBy && q.lsub {
			if hidden { // RFC 3501 6.3.9: the parent of what "%" leaves out
				it.Attrs = []string{`\Noselect`}
				out = append(out, listed{item: it})
			}
			continue
		}
		if q.recursive && q.subscribed && hidden {
			it.ChildInfo = []string{"SUBSCRIBED"} // RFC 5258 3.5
		}
		if e.mb == nil && !q.lsub {
			it.Attrs = append(it.Attrs, `\NonExistent`)
		}
		if !selectedBy {
			if it.ChildInfo != nil {
				out = append(out, listed{item: it})
			}
			continue
		}
		if !q.lsub {
			if hasChildren(mbs, e.name) {
				it.Attrs = append(it.Attrs, `\HasChildren`)
			} else {
				it.Attrs = append(it.Attrs, `\HasNoChildren`)
			}
			if e.subscribed && (q.retSubscribed || q.subscribed) {
				it.Attrs = append(it.Attrs, `\Subscribed`)
			}
		}
		if e.mb != nil && e.mb.SpecialUse != "" { // in LSUB too, as Dovecot does: older clients find Sent and Trash there
			it.Attrs = append(it.Attrs, e.mb.SpecialUse)
		}
		out = append(out, listed{item: it, mb: e.mb})
	}
	return out
}

// selects reports whether the selection options keep an entry: LSUB and
// LIST (SUBSCRIBED) the subscribed names, LIST the mailboxes.
func (q *listQuery) selects(e *listEntry) bool {
	if q.subscribed || q.lsub {
		if !e.subscribed {
			return false
		}
	} else if e.mb == nil {
		return false
	}
	return !q.specialUse || e.mb != nil && e.mb.SpecialUse != ""
}

func (q *listQuery) matches(name string) bool {
	for _, p := range q.patterns {
		if matchList(name, p) {
			return true
		}
	}
	return false
}

func hasChildren(mbs []store.Mailbox, name string) bool {
	prefix := name + string(delim)
	return slices.ContainsFunc(mbs, func(m store.Mailbox) bool { return strings.HasPrefix(m.Name, prefix) })
}

// unlistedSubscribedChild reports whether name has a subscribed
// descendant that the patterns do not match.
func (q *listQuery) unlistedSubscribedChild(subs []string, name string) bool {
	prefix := name + string(delim)
	return slices.ContainsFunc(subs, func(s string) bool {
		return strings.HasPrefix(s, prefix) && !q.matches(s)
	})
}

// maxPattern bounds the LIST pattern matched; a longer one matches
// nothing (no mailbox name is that long).
const maxPattern = 4096

// matchList matches a mailbox name against a LIST pattern: "*" matches
// anything, "%" anything but the hierarchy delimiter (RFC 9051 6.3.9).
// Every other byte, every legal atom character included, matches itself.
// It runs in time proportional to len(name)*len(pattern).
func matchList(name, pattern string) bool {
	if len(pattern) > maxPattern {
		return false
	}
	// ok[j]: name[:i] matches pattern[:j].
	ok := make([]bool, len(pattern)+1)
	next := make([]bool, len(pattern)+1)
	ok[0] = true
	for j := 1; j <= len(pattern); j++ {
		ok[j] = ok[j-1] && (pattern[j-1] == '*' || pattern[j-1] == '%')
	}
	for i := 1; i <= len(name); i++ {
		b := name[i-1]
		next[0] = false
		for j := 1; j <= len(pattern); j++ {
			switch p := pattern[j-1]; p {
			case '*':
				next[j] = next[j-1] || ok[j]
			case '%':
				next[j] = next[j-1] || (ok[j] && b != delim)
			default:
				next[j] = ok[j-1] && p == b
			}
		}
		ok, next = next, ok
	}
	return ok[len(pattern)]
}

func (c *conn) cmdStatus(cmd *wire.Command) (string, error) {
	args := cmd.Args.(*wire.Status)
	ctx, cancel := c.opCtx()
	defer cancel()
	mb, err := c.srv.opts.Store.MailboxByName(ctx, c.acct.ID, args.Mailbox)
	if err != nil {
		return "", c.storeError("status", err)
	}
	return "", c.writeStatus(ctx, mb, args.Items)
}

// writeStatus writes "* STATUS" of a mailbox.
func (c *conn) writeStatus(ctx context.Context, mb store.Mailbox, items []string) error {
	if c.rev2 && slices.Contains(items, "RECENT") {
		return bad("IMAP4rev2 has no RECENT status item") // RFC 9051 6.3.11
	}
	n, err := c.srv.opts.Store.Counts(ctx, mb.ID)
	if err != nil {
		return c.storeError("status", err)
	}
	out := make([]wire.StatusItem, 0, len(items))
	for _, it := range items {
		var v uint64
		switch it {
		case "MESSAGES":
			v = uint64(n.Messages)
		case "UIDNEXT":
			v = uint64(mb.UIDNext)
		case "UIDVALIDITY":
			v = uint64(mb.UIDValidity)
		case "UNSEEN":
			v = uint64(n.Unseen)
		case "DELETED":
			v = uint64(n.Deleted)
		case "SIZE":
			v = uint64(max(n.Size, 0))
		case "RECENT":
			v = uint64(n.Recent)
		case "APPENDLIMIT":
			v = uint64(c.srv.opts.MaxMessageBytes)
		case "HIGHESTMODSEQ":
			v = uint64(highestModSeq(mb))
		default:
			continue // MAILBOXID is not offered
		}
		out = append(out, wire.StatusItem{Name: it, Value: v})
	}
	if err := c.enc.MailboxStatus(mb.Name, out); err != nil {
		return errEnd
	}
	return nil
}

// The quota (RFC 9208): one root, "", for the whole account, and none
// when the account has no quota.

func (c *conn) usage() (store.Usage, error) {
	ctx, cancel := c.opCtx()
	defer cancel()
	u, err := c.srv.opts.Store.AccountUsage(ctx, c.acct.ID)
	if err != nil {
		return u, c.storeError("quota", err)
	}
	return u, nil
}

func (c *conn) writeQuota(u store.Usage) {
	written(c.enc.Quota("", []wire.QuotaResource{{Name: "STORAGE", Usage: uint64((u.Used + 1023) / 1024), Limit: uint64(u.Quota / 1024)}}))
}

func (c *conn) cmdGetQuotaRoot(cmd *wire.Command) (string, error) {
	u, err := c.usage()
	if err != nil {
		return "", err
	}
	name := cmd.Args.(*wire.Mailbox).Name
	if u.Quota <= 0 {
		written(c.enc.Raw("* QUOTAROOT ").String(wire.EncodeMailbox(name, c.utf8)).CRLF())
		return "", nil
	}
	written(c.enc.Raw("* QUOTAROOT ").String(wire.EncodeMailbox(name, c.utf8)).Raw(` ""`).CRLF())
	c.writeQuota(u)
	return "", nil
}

func (c *conn) cmdGetQuota(cmd *wire.Command) (string, error) {
	u, err := c.usage()
	if err != nil {
		return "", err
	}
	if cmd.Args.(*wire.QuotaRoot).Root != "" || u.Quota <= 0 {
		return "", no(wire.CodeNonExistent, "No such quota root")
	}
	c.writeQuota(u)
	return "", nil
}

func (c *conn) cmdSetQuota(*wire.Command) (string, error) {
	return "", no(wire.CodeNoPerm, "Quotas are set by the box's admin")
}
