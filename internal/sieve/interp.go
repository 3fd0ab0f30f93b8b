package sieve

import (
	"fmt"
	"math"
	"mime"
	"net/mail"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Action is what a script decided; the caller carries it out.
type Action interface{ action() }

// Keep stores the message in INBOX with Flags.
type Keep struct{ Flags []string }

// FileInto stores the message in Mailbox with Flags.
type FileInto struct {
	Mailbox string
	Flags   []string
}

// Redirect sends the message on to Address.
type Redirect struct{ Address string }

// Vacation is an auto-reply (RFC 5230); the caller decides whether it is
// sent (once per sender per Days, never to lists or bounces). Subject
// and From are header-safe: a :subject with control characters, or a
// :from that is not one address, is dropped at run time and named in
// Problems; the caller must still check that the account may send as
// From. Refused, when set, says why no reply may be sent at all (a :mime
// reason whose header is not MIME fields only).
type Vacation struct {
	Days                  int
	Subject, From, Handle string
	Reason                string
	Addresses             []string
	Mime                  bool
	Problems              []string
	Refused               string
}

// Discard drops the message: no copy is stored. It is listed so that the
// caller can log it.
type Discard struct{}

func (Keep) action()     {}
func (FileInto) action() {}
func (Redirect) action() {}
func (Vacation) action() {}
func (Discard) action()  {}

// RunOptions bound a run.
type RunOptions struct {
	MaxRedirects int       // default 10
	Now          time.Time // for currentdate; default time.Now()
	MaxDays      int       // cap of vacation :days; default 30 (RFC 5230 4.1 lets sites limit it)
	// MaxBodyBytes is how much of the body (decoded text, or raw for
	// body :raw) body tests compare; default DefaultMaxBodyBytes.
	MaxBodyBytes int
	// MaxWork bounds the bytes compared in one run (default
	// DefaultMaxWork) and Timeout its time (default DefaultTimeout): past
	// either the run fails with ErrBudget and the caller keeps the
	// message, as for any run-time error.
	MaxWork int64
	Timeout time.Duration
}

// Budget defaults of a run: tens of milliseconds of work for an honest
// script, a hard stop for a hostile one.
const (
	DefaultMaxWork = 64 << 20
	DefaultTimeout = 2 * time.Second
)

// ErrBudget is the run-time error of a script that compared more than
// RunOptions.MaxWork bytes or ran past RunOptions.Timeout.
var ErrBudget = &Error{Msg: "the script needed more work than allowed (sieve budget exceeded)"}

type state struct {
	msg       *Message
	opts      RunOptions
	actions   []Action
	flags     []string
	keep      bool // the implicit keep is still on
	redirects int
	vacation  bool
	steps     int
	// work left, the deadline, and the work since the clock was read.
	work     int64
	deadline time.Time
	sinceNow int64
	err      error // a run-time error met inside a test
}

const maxSteps = 100000

var errStop = &Error{Msg: "stop"}

// Run executes the script on msg and returns its actions, the implicit
// keep included. An error means the script failed at run time (too many
// redirects, a second vacation, ErrBudget): the caller should keep the
// message in INBOX, as RFC 5228 2.10.6 says.
func (s *Script) Run(msg *Message, opts RunOptions) ([]Action, error) {
	if opts.MaxRedirects == 0 {
		opts.MaxRedirects = 10
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.MaxDays == 0 {
		opts.MaxDays = 30
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxWork <= 0 {
		opts.MaxWork = DefaultMaxWork
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	st := &state{msg: msg, opts: opts, keep: true, work: opts.MaxWork, deadline: time.Now().Add(opts.Timeout)}
	if err := st.block(s.cmds); err != nil && err != errStop {
		return nil, err
	}
	if st.keep {
		st.actions = append(st.actions, Keep{Flags: slices.Clone(st.flags)})
	}
	return dedupe(st.actions), nil
}

// dedupe drops repeated deliveries to the same mailbox or address (RFC
// 5228 2.10.3); keep and fileinto "INBOX" are the same place.
func dedupe(l []Action) []Action {
	seen := map[string]bool{}
	var out []Action
	for _, a := range l {
		var k string
		switch a := a.(type) {
		case Keep:
			k = "m:INBOX"
		case FileInto:
			k = "m:" + a.Mailbox
			if strings.EqualFold(a.Mailbox, "INBOX") {
				k = "m:INBOX"
			}
		case Redirect:
			k = "r:" + strings.ToLower(a.Address)
		}
		if k != "" {
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		out = append(out, a)
	}
	return out
}

func (st *state) block(cmds []*call) error {
	for _, c := range cmds {
		if err := st.command(c); err != nil {
			return err
		}
	}
	return nil
}

func (st *state) flagsFor(c *call) []string {
	if a, ok := c.tags["flags"]; ok {
		return normFlags(nil, a.strs)
	}
	return slices.Clone(st.flags)
}

func (st *state) command(c *call) error {
	st.steps++
	if st.steps > maxSteps {
		return errorf(c.pos, "script runs too long")
	}
	switch c.name {
	case "require":
	case "if":
		if st.test(c.tests[0]) {
			return st.block(c.block)
		}
		if st.err != nil {
			return st.err
		}
		for _, e := range c.elses {
			if e.name == "else" || st.test(e.tests[0]) {
				return st.block(e.block)
			}
			if st.err != nil {
				return st.err
			}
		}
	case "stop":
		return errStop
	case "keep":
		st.actions = append(st.actions, Keep{Flags: st.flagsFor(c)})
		st.keep = false
	case "discard":
		st.actions = append(st.actions, Discard{})
		st.keep = false
	case "fileinto":
		if p := mailboxProblem(c.args[0].strs[0]); p != "" {
			return errorf(c.args[0].pos, "fileinto: %s", p)
		}
		st.actions = append(st.actions, FileInto{Mailbox: c.args[0].strs[0], Flags: st.flagsFor(c)})
		if !c.has("copy") {
			st.keep = false
		}
	case "redirect":
		st.redirects++
		if st.redirects > st.opts.MaxRedirects {
			return errorf(c.pos, "more than %d redirects", st.opts.MaxRedirects)
		}
		st.actions = append(st.actions, Redirect{Address: c.args[0].strs[0]})
		if !c.has("copy") {
			st.keep = false
		}
	case "setflag":
		st.flags = normFlags(nil, c.args[0].strs)
	case "addflag":
		st.flags = normFlags(st.flags, c.args[0].strs)
	case "removeflag":
		rm := normFlags(nil, c.args[0].strs)
		st.flags = slices.DeleteFunc(st.flags, func(f string) bool {
			return slices.ContainsFunc(rm, func(r string) bool { return strings.EqualFold(r, f) })
		})
	case "vacation":
		if st.vacation {
			return errorf(c.pos, "a second vacation action")
		}
		st.vacation = true
		st.actions = append(st.actions, st.vacationAction(c))
	default:
		return errorf(c.pos, "internal: command %s not implemented", c.name)
	}
	return nil
}

// vacationAction builds the Vacation action of c; a :subject, :from or
// :mime reason that may not become a header is noted, not used.
func (st *state) vacationAction(c *call) Vacation {
	v := Vacation{Days: 7, Reason: c.args[0].strs[0], Mime: c.has("mime")}
	if a, ok := c.tags["days"]; ok {
		v.Days = int(min(a.num, uint64(st.opts.MaxDays)))
		if v.Days < 1 {
			v.Days = 1
		}
	}
	if a, ok := c.tags["subject"]; ok {
		if p := headerTextProblem(a.strs[0]); p != "" {
			v.Problems = append(v.Problems, "vacation :subject ignored: "+p)
		} else {
			v.Subject = a.strs[0]
		}
	}
	if a, ok := c.tags["from"]; ok {
		if _, p := senderProblem(a.strs[0]); p != "" {
			v.Problems = append(v.Problems, "vacation :from ignored: "+p)
		} else {
			v.From = a.strs[0]
		}
	}
	if v.Mime {
		if p := mimeReasonProblem(v.Reason); p != "" {
			v.Refused = "vacation :mime reason refused: " + p
		}
	}
	if a, ok := c.tags["addresses"]; ok {
		v.Addresses = a.strs
	}
	v.Handle = v.Subject + "\x00" + v.From + "\x00" + v.Reason
	if a, ok := c.tags["from"]; ok {
		v.Handle = v.Subject + "\x00" + a.strs[0] + "\x00" + v.Reason
	}
	if a, ok := c.tags["handle"]; ok {
		v.Handle = a.strs[0]
	}
	return v
}

// normFlags adds the space-separated flags of l to base, without
// duplicates (RFC 5232 3.1); a flag that is not an IMAP flag (control
// characters, atom-specials) is left out.
func normFlags(base []string, l []string) []string {
	out := slices.Clone(base)
	for _, s := range l {
		for f := range strings.FieldsSeq(s) {
			if flagProblem(f) == "" && !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, f) }) {
				out = append(out, f)
			}
		}
	}
	return out
}

func (st *state) test(t *call) bool {
	st.steps++
	if st.err != nil || !st.charge(1) {
		return false
	}
	switch t.name {
	case "true":
		return true
	case "false":
		return false
	case "not":
		return !st.test(t.tests[0])
	case "allof":
		for _, x := range t.tests {
			if !st.test(x) {
				return false
			}
		}
		return true
	case "anyof":
		for _, x := range t.tests {
			if st.test(x) {
				return true
			}
		}
		return false
	case "exists":
		for _, h := range t.args[0].strs {
			if len(st.msg.Header[textproto.CanonicalMIMEHeaderKey(h)]) == 0 {
				return false
			}
		}
		return true
	case "size":
		if t.has("over") {
			return uint64(st.msg.Size) > t.args[0].num
		}
		return uint64(st.msg.Size) < t.args[0].num
	case "header":
		var vals []string
		for _, h := range t.args[0].strs {
			for _, v := range st.msg.Header[textproto.CanonicalMIMEHeaderKey(h)] {
				vals = append(vals, decodeHeader(v))
			}
		}
		return st.match(t, vals, t.args[1].strs)
	case "address":
		var vals []string
		for _, h := range t.args[0].strs {
			for _, v := range st.msg.Header[textproto.CanonicalMIMEHeaderKey(h)] {
				for _, a := range addresses(v) {
					vals = append(vals, addrPart(t, a))
				}
			}
		}
		return st.match(t, vals, t.args[1].strs)
	case "envelope":
		var vals []string
		for _, h := range t.args[0].strs {
			switch strings.ToLower(h) {
			case "from":
				vals = append(vals, addrPart(t, st.msg.From))
			case "to":
				vals = append(vals, addrPart(t, st.msg.To))
			}
		}
		return st.match(t, vals, t.args[1].strs)
	case "body":
		var vals []string
		switch {
		case t.has("raw"):
			vals = []string{st.msg.rawBody(st.opts.MaxBodyBytes)}
		case t.has("content"):
			c := st.msg.bodyOf(st.opts.MaxBodyBytes)
			for i := range c.parts {
				p := &c.parts[i]
				for _, want := range t.tags["content"].strs {
					want = strings.ToLower(want)
					if want == "" || p.typ == want || !strings.Contains(want, "/") && strings.HasPrefix(p.typ, want+"/") {
						vals = append(vals, c.decode(p))
						break
					}
				}
			}
		default:
			vals = []string{st.msg.bodyOf(st.opts.MaxBodyBytes).text}
		}
		return st.match(t, vals, t.args[0].strs)
	case "hasflag":
		return st.match(t, st.flags, t.args[0].strs)
	case "currentdate":
		return st.match(t, []string{datePart(st.opts.Now, t)}, t.args[1].strs)
	}
	return false
}

func datePart(now time.Time, t *call) string {
	if z, ok := t.tags["zone"]; ok {
		if off, err := strconv.Atoi(z.strs[0]); err == nil && len(z.strs[0]) == 5 {
			h, m := off/100, off%100
			now = now.In(time.FixedZone(z.strs[0], (h*60+m)*60))
		}
	}
	switch strings.ToLower(t.args[0].strs[0]) {
	case "year":
		return now.Format("2006")
	case "month":
		return now.Format("01")
	case "day":
		return now.Format("02")
	case "date":
		return now.Format("2006-01-02")
	case "julian":
		return strconv.FormatInt(int64(math.Floor(float64(now.Unix())/86400))+40587, 10)
	case "hour":
		return now.Format("15")
	case "minute":
		return now.Format("04")
	case "second":
		return now.Format("05")
	case "time":
		return now.Format("15:04:05")
	case "iso8601":
		return now.Format(time.RFC3339)
	case "std11":
		return now.Format(time.RFC1123Z)
	case "zone":
		return now.Format("-0700")
	case "weekday":
		return strconv.Itoa(int(now.Weekday()))
	}
	return ""
}

var wordDecoder = mime.WordDecoder{CharsetReader: nil}

func decodeHeader(v string) string {
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		v = d
	}
	return strings.TrimSpace(v)
}

// addresses returns the addr-specs of a header value; a value that does not
// parse is taken whole, so tests still see it.
func addresses(v string) []string {
	l, err := mail.ParseAddressList(v)
	if err != nil {
		return []string{strings.TrimSpace(v)}
	}
	out := make([]string, len(l))
	for i, a := range l {
		out[i] = a.Address
	}
	return out
}

func addrPart(t *call, a string) string {
	at := strings.LastIndexByte(a, '@')
	switch {
	case t.has("localpart"):
		if at >= 0 {
			return a[:at]
		}
		return a
	case t.has("domain"):
		if at >= 0 {
			return a[at+1:]
		}
		return ""
	}
	return a
}

// String describes an action for logs.
func Describe(a Action) string {
	switch a := a.(type) {
	case Keep:
		return "keep"
	case FileInto:
		return "fileinto " + a.Mailbox
	case Redirect:
		return "redirect " + a.Address
	case Vacation:
		return fmt.Sprintf("vacation (%d days)", a.Days)
	case Discard:
		return "discard"
	}
	return "?"
}
