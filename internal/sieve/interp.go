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

// Message is what a script looks at. The interpreter does no I/O: the
// caller fills it (see ParseMessage).
type Message struct {
	// Envelope sender ("" for a bounce) and the recipient being delivered.
	From, To string
	Header   mail.Header // raw field values; RFC 2047 words are decoded on use
	Size     int64
	// Raw is the body as received; Text the decoded text/* parts.
	Raw, Text string
	// Parts are the decoded parts by lower-case content type (body :content).
	Parts []Part
}

// Part is one MIME part for body :content.
type Part struct {
	Type string // "text/plain"
	Text string
}

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
// sent (once per sender per Days, never to lists or bounces).
type Vacation struct {
	Days                  int
	Subject, From, Handle string
	Reason                string
	Addresses             []string
	Mime                  bool
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
}

type state struct {
	msg       *Message
	opts      RunOptions
	actions   []Action
	flags     []string
	keep      bool // the implicit keep is still on
	redirects int
	vacation  bool
	steps     int
}

const maxSteps = 100000

var errStop = &Error{Msg: "stop"}

// Run executes the script on msg and returns its actions, the implicit
// keep included. An error means the script failed at run time (too many
// redirects, a second vacation): the caller should keep the message in
// INBOX, as RFC 5228 2.10.6 says.
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
	st := &state{msg: msg, opts: opts, keep: true}
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
		for _, e := range c.elses {
			if e.name == "else" || st.test(e.tests[0]) {
				return st.block(e.block)
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
		v := Vacation{Days: 7, Reason: c.args[0].strs[0], Mime: c.has("mime")}
		if a, ok := c.tags["days"]; ok {
			v.Days = int(min(a.num, uint64(st.opts.MaxDays)))
			if v.Days < 1 {
				v.Days = 1
			}
		}
		if a, ok := c.tags["subject"]; ok {
			v.Subject = a.strs[0]
		}
		if a, ok := c.tags["from"]; ok {
			v.From = a.strs[0]
		}
		if a, ok := c.tags["addresses"]; ok {
			v.Addresses = a.strs
		}
		v.Handle = v.Subject + "\x00" + v.From + "\x00" + v.Reason
		if a, ok := c.tags["handle"]; ok {
			v.Handle = a.strs[0]
		}
		st.actions = append(st.actions, v)
	default:
		return errorf(c.pos, "internal: command %s not implemented", c.name)
	}
	return nil
}

// normFlags adds the space-separated flags of l to base, without
// duplicates (RFC 5232 3.1).
func normFlags(base []string, l []string) []string {
	out := slices.Clone(base)
	for _, s := range l {
		for f := range strings.FieldsSeq(s) {
			if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, f) }) {
				out = append(out, f)
			}
		}
	}
	return out
}

func (st *state) test(t *call) bool {
	st.steps++
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
		return match(t, vals, t.args[1].strs)
	case "address":
		var vals []string
		for _, h := range t.args[0].strs {
			for _, v := range st.msg.Header[textproto.CanonicalMIMEHeaderKey(h)] {
				for _, a := range addresses(v) {
					vals = append(vals, addrPart(t, a))
				}
			}
		}
		return match(t, vals, t.args[1].strs)
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
		return match(t, vals, t.args[1].strs)
	case "body":
		var vals []string
		switch {
		case t.has("raw"):
			vals = []string{st.msg.Raw}
		case t.has("content"):
			for _, p := range st.msg.Parts {
				for _, want := range t.tags["content"].strs {
					want = strings.ToLower(want)
					if want == "" || p.Type == want || !strings.Contains(want, "/") && strings.HasPrefix(p.Type, want+"/") {
						vals = append(vals, p.Text)
						break
					}
				}
			}
		default:
			vals = []string{st.msg.Text}
		}
		return match(t, vals, t.args[0].strs)
	case "hasflag":
		return match(t, st.flags, t.args[0].strs)
	case "currentdate":
		return match(t, []string{datePart(st.opts.Now, t)}, t.args[1].strs)
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

// match applies t's comparator and match type: true if any value
// matches any key (for :count, the number of values).
func match(t *call, vals, keys []string) bool {
	cmp := "i;ascii-casemap"
	if c, ok := t.tags["comparator"]; ok {
		cmp = c.strs[0]
	}
	if r, ok := t.tags["count"]; ok {
		n := strconv.Itoa(len(vals))
		for _, k := range keys {
			if relation(strings.ToLower(r.strs[0]), compareNumeric(n, k)) {
				return true
			}
		}
		return false
	}
	for _, v := range vals {
		for _, k := range keys {
			if matchOne(t, cmp, v, k) {
				return true
			}
		}
	}
	return false
}

func relation(op string, c int) bool {
	switch op {
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	}
	return false
}

func matchOne(t *call, cmp, v, k string) bool {
	fold := cmp == "i;ascii-casemap"
	if fold {
		v, k = asciiLower(v), asciiLower(k)
	}
	switch {
	case t.has("contains"):
		return strings.Contains(v, k)
	case t.has("matches"):
		return glob(v, k)
	case t.has("value"):
		var c int
		if cmp == "i;ascii-numeric" {
			c = compareNumeric(v, k)
		} else {
			c = strings.Compare(v, k)
		}
		return relation(strings.ToLower(t.tags["value"].strs[0]), c)
	}
	if cmp == "i;ascii-numeric" {
		return compareNumeric(v, k) == 0
	}
	return v == k
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// compareNumeric is i;ascii-numeric (RFC 4790 9.1): the leading digits as a
// number, no digits being positive infinity.
func compareNumeric(a, b string) int {
	na, ia := leadingNumber(a)
	nb, ib := leadingNumber(b)
	switch {
	case ia && ib:
		return 0
	case ia:
		return 1
	case ib:
		return -1
	}
	// Compare as decimal strings without leading zeros, so any length works.
	if len(na) != len(nb) {
		if len(na) < len(nb) {
			return -1
		}
		return 1
	}
	return strings.Compare(na, nb)
}

func leadingNumber(s string) (string, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return "", true
	}
	return strings.TrimLeft(s[:i], "0"), false
}

// glob matches s against a :matches pattern: * any sequence, ? one
// character, \ escapes.
func glob(s, p string) bool {
	// Iterative with backtracking to the last star: linear in practice.
	si, pi := 0, 0
	star, mark := -1, 0
	rs, rp := []rune(s), []rune(p)
	for si < len(rs) {
		if pi < len(rp) {
			c := rp[pi]
			switch {
			case c == '*':
				star, mark = pi, si
				pi++
				continue
			case c == '?':
				si++
				pi++
				continue
			case c == '\\' && pi+1 < len(rp):
				if rp[pi+1] == rs[si] {
					si++
					pi += 2
					continue
				}
			case c == rs[si]:
				si++
				pi++
				continue
			}
		}
		if star < 0 {
			return false
		}
		pi = star + 1
		mark++
		si = mark
	}
	for pi < len(rp) && rp[pi] == '*' {
		pi++
	}
	return pi == len(rp)
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
