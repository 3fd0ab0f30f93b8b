package spam

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"

	"boxmail/internal/mailmsg"
)

// Limits of the walk over a message: what lies beyond them is not looked
// at, so a hostile message costs at most this much work.
const (
	maxParts = 100
	maxDepth = 10
	// maxText is how many bytes of decoded text (all parts together) are
	// tokenized.
	maxText = 256 << 10
	// maxHeader bounds the header bytes read (the message's and each part's).
	maxHeader = 64 << 10
	// maxTokens bounds the distinct tokens kept of one message.
	maxTokens = 3000
	// maxRaw is how much of the raw message is searched for GTUBE.
	maxRaw = 1 << 20
)

// GTUBE is the Generic Test for Unsolicited Bulk Email: a message that
// contains it is always junk.
const GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// Features is what the classifier and the reputation look at in a message.
type Features struct {
	// Tokens are the distinct content tokens: words of the decoded text
	// (lower-case), "s:" subject words, "url:" link domains, "h:" header
	// facts, "hid:" words of hidden HTML text, "v:" the case of a body or
	// subject word written with capitals ("v:Free", "v:s:Money"; words all
	// in capitals are "caps:"), "m:" and "x:" the message's shape and
	// structure (shape.go, structure.go).
	Tokens []string
	// FromAddr, FromDomain, OrgDomain: the (first) author, lower-case.
	FromAddr, FromDomain, OrgDomain string
	// Recipients are the To, Cc and Bcc addresses (lower-case): what a
	// sent message teaches (the user wrote to them).
	Recipients []string
	// GTUBE is set when the message carries the GTUBE test string.
	GTUBE bool
	// Auth is what the box's own Authentication-Results field says.
	Auth AuthResults
	// Net is the sending client's network (Network), set by the caller;
	// "" when unknown.
	Net string
}

// Parse reads a message's features. authserv is the box's host name: only
// the Authentication-Results field naming it is believed (smtpd removes
// forged ones before adding its own).
func Parse(msg []byte, authserv string) *Features {
	f := &Features{}
	t := newTokenizer()
	raw := msg[:min(len(msg), maxRaw)]
	f.GTUBE = bytes.Contains(raw, []byte(GTUBE))
	hdr, body := mailmsg.Split(msg)
	hdr = hdr[:min(len(hdr), maxHeader)]
	var ctype, cte string
	var facts headerFacts
	for fl := range mailmsg.Fields(hdr) {
		if fl.Name == nil {
			continue
		}
		v := string(mailmsg.Unfold(fl.Value))
		name := strings.ToLower(string(fl.Name))
		facts.note(name, v)
		switch name {
		case "content-type":
			ctype = v
		case "content-transfer-encoding":
			cte = v
		case "subject":
			if has8bit(v) {
				t.add("x:hdr:8bit")
			}
			sv := decodeWords(v)
			t.words(sv, "s:")
			t.subjectShape(sv)
		case "from":
			if f.FromAddr == "" {
				f.setFrom(v, t)
			}
		case "to", "cc", "bcc":
			if list, err := mail.ParseAddressList(v); err == nil {
				for _, a := range list {
					f.Recipients = append(f.Recipients, strings.ToLower(a.Address))
				}
			} else {
				t.add("h:" + strings.ToLower(string(fl.Name)) + "-unparsable")
			}
		case "authentication-results":
			if ar, ok := parseAuthResults(v, authserv); ok && !f.Auth.Found {
				f.Auth = ar
			}
		default:
			t.headerFact(strings.ToLower(string(fl.Name)), v)
		}
	}
	t.add(fmt.Sprintf("h:rcpts:%d", min(len(f.Recipients), 10)))
	t.structure(&facts, authserv)
	n := 0
	t.walk(ctype, cte, body, 0, &n)
	top, _ := mediaType(ctype, t)
	t.shapes(top)
	f.GTUBE = f.GTUBE || t.gtube
	f.Tokens = t.list()
	return f
}

// setFrom takes the author from a From field's value.
func (f *Features) setFrom(v string, t *tokenizer) {
	a, err := mail.ParseAddress(v)
	if err != nil {
		list, lerr := mail.ParseAddressList(v)
		if lerr != nil || len(list) == 0 {
			t.add("h:from-unparsable")
			return
		}
		a = list[0]
	}
	f.FromAddr = strings.ToLower(a.Address)
	if i := strings.LastIndexByte(f.FromAddr, '@'); i >= 0 {
		f.FromDomain = f.FromAddr[i+1:]
		f.OrgDomain = OrgDomain(f.FromDomain)
	}
	t.words(a.Name, "f:")
	t.fromShape(a.Name, f.FromAddr)
}

// OrgDomain returns the organisational domain of a domain (its public
// suffix plus one label), or the domain itself when there is none.
func OrgDomain(d string) string {
	if o, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return o
	}
	return d
}

// decodeWords decodes RFC 2047 encoded words, or returns s.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// tokenizer collects a message's distinct tokens.
type tokenizer struct {
	seen    map[string]struct{}
	out     []string
	textLen int  // bytes of decoded text so far (the budget)
	gtube   bool // GTUBE seen in the decoded text
	shape   shapeCounts
}

func newTokenizer() *tokenizer { return &tokenizer{seen: make(map[string]struct{}, 256)} }

func (t *tokenizer) add(tok string) {
	if len(t.out) >= maxTokens {
		return
	}
	if _, ok := t.seen[tok]; ok {
		return
	}
	t.seen[tok] = struct{}{}
	t.out = append(t.out, tok)
}

func (t *tokenizer) list() []string { return t.out }

// headerFact adds the facts of header fields that tell mailers apart.
func (t *tokenizer) headerFact(name, v string) {
	switch name {
	case "x-mailer", "user-agent":
		t.add("h:" + name + ":" + firstWord(v))
	case "list-unsubscribe", "list-id", "precedence", "x-priority", "importance", "reply-to", "in-reply-to", "references":
		t.add("h:" + name)
	case "received":
		t.shape.received++
	case "message-id":
		if strings.Contains(v, "$") {
			t.add("m:mid:dollar")
		}
		if i := strings.LastIndexByte(v, '@'); i >= 0 {
			t.add("h:mid:" + strings.ToLower(strings.Trim(v[i+1:], "> \t")))
		} else {
			t.add("h:mid:none")
		}
	case "date":
		if f := strings.Fields(v); len(f) > 0 {
			t.add("h:date-zone:" + f[len(f)-1][:min(len(f[len(f)-1]), 10)])
		}
	}
}

func firstWord(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if i := strings.IndexAny(v, " /;("); i >= 0 {
		v = v[:i]
	}
	return v[:min(len(v), 30)]
}

// walk tokenizes the leaf parts of a body, at most maxDepth multipart
// levels and maxParts parts deep.
func (t *tokenizer) walk(ctype, cte string, body []byte, depth int, n *int) {
	*n++
	if *n > maxParts || t.textLen >= maxText {
		return
	}
	mt, params := mediaType(ctype, t)
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" {
		t.add("ct:" + mt)
		if depth >= maxDepth {
			t.add("h:deep-mime")
			return
		}
		for _, p := range splitParts(body, params["boundary"]) {
			if *n > maxParts {
				t.add("h:many-parts")
				return
			}
			ph, pb := mailmsg.Split(p)
			if len(ph) > maxHeader || len(pb) == len(p) && len(ph) == 0 {
				ph, pb = nil, p
			}
			var pct, pcte, disp string
			for fl := range mailmsg.Fields(ph) {
				switch {
				case fl.Is("Content-Type"):
					pct = string(mailmsg.Unfold(fl.Value))
				case fl.Is("Content-Transfer-Encoding"):
					pcte = string(mailmsg.Unfold(fl.Value))
				case fl.Is("Content-Disposition"):
					disp = string(mailmsg.Unfold(fl.Value))
				}
			}
			t.attachment(pct, disp)
			t.walk(pct, pcte, pb, depth+1, n)
		}
		return
	}
	t.add("ct:" + mt)
	if !strings.HasPrefix(mt, "text/") {
		return
	}
	if cs := strings.ToLower(params["charset"]); cs != "" {
		// At most 20 bytes, cut on a character's start: ToLower made any
		// bad byte a 3-byte U+FFFD, which a byte cut could split.
		n := min(len(cs), 20)
		for n > 0 && n < len(cs) && !utf8.RuneStart(cs[n]) {
			n--
		}
		t.add("cs:" + cs[:n])
	}
	text := t.decode(cte, params["charset"], body)
	if mt == "text/html" {
		t.html(text)
		return
	}
	if looksHTML(text) {
		t.add("h:html-in-plain")
		t.html(text)
		return
	}
	t.words(text, "")
}

// mediaType reads a Content-Type: a broken one (";;;;" after the type,
// as some spamware writes) keeps its type, and says it is broken.
func mediaType(ctype string, t *tokenizer) (string, map[string]string) {
	if ctype == "" {
		return "text/plain", nil
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err == nil {
		return mt, params
	}
	t.add("h:ct-broken")
	mt, rest, _ := strings.Cut(ctype, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if !strings.Contains(mt, "/") {
		return "text/plain", nil
	}
	params = map[string]string{}
	for _, p := range strings.Split(rest, ";") {
		if k, v, ok := strings.Cut(p, "="); ok {
			params[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return mt, params
}

// looksHTML reports whether a text/plain part is HTML in fact.
func looksHTML(s string) bool {
	head := s[:min(len(s), 2048)]
	for _, tag := range []string{"<html", "<HTML", "<body", "<BODY", "<table", "<TABLE", "<p>", "<P>", "<font", "<FONT"} {
		if strings.Contains(head, tag) {
			return true
		}
	}
	return false
}

// attachment adds the file name extension of an attached part.
func (t *tokenizer) attachment(ctype, disp string) {
	_, p, _ := mime.ParseMediaType(disp)
	name := p["filename"]
	if name == "" {
		_, p, _ = mime.ParseMediaType(ctype)
		name = p["name"]
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 && len(name)-i <= 8 {
		t.add("att:" + strings.ToLower(name[i+1:]))
	}
}

// splitParts returns the body parts of a multipart body (RFC 2046 5.1.1).
func splitParts(body []byte, boundary string) [][]byte {
	delim := []byte("--" + boundary)
	var parts [][]byte
	i := delimAt(body, delim, 0)
	for i >= 0 && len(parts) <= maxParts {
		j := i + len(delim)
		if bytes.HasPrefix(body[j:], []byte("--")) {
			break
		}
		nl := bytes.IndexByte(body[j:], '\n')
		if nl < 0 {
			break
		}
		start := j + nl + 1
		next := delimAt(body, delim, start)
		end := len(body)
		if next >= 0 {
			end = next
		}
		parts = append(parts, body[start:end])
		i = next
	}
	return parts
}

// delimAt finds the next delimiter line at or after from.
func delimAt(b, delim []byte, from int) int {
	for from <= len(b) {
		k := bytes.Index(b[from:], delim)
		if k < 0 {
			return -1
		}
		p := from + k
		if p == 0 || b[p-1] == '\n' {
			return p
		}
		from = p + 1
	}
	return -1
}

// decode returns a text part's content as UTF-8, within the text budget.
func (t *tokenizer) decode(cte, charset string, data []byte) string {
	left := maxText - t.textLen
	if left <= 0 {
		return ""
	}
	var r io.Reader = bytes.NewReader(data)
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &noSpace{b: data})
		t.add("h:cte:base64")
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	var b bytes.Buffer
	_, _ = io.Copy(&b, io.LimitReader(r, int64(left))) // a broken encoding keeps what decoded
	s := b.String()
	if (charset == "" || strings.EqualFold(charset, "us-ascii")) && has8bit(s) {
		t.add("x:cs:undeclared-8bit")
	}
	if !utf8.ValidString(s) {
		s = latin1(s, charset)
	}
	t.textLen += len(s)
	t.gtube = t.gtube || strings.Contains(s, GTUBE)
	return s
}

// latin1 reads s as ISO 8859-1 (or Windows-1252's letters, which agree),
// the commonest 8-bit charset; other charsets keep only their ASCII.
func latin1(s, charset string) string {
	cs := strings.ToLower(charset)
	ok := cs == "" || strings.Contains(cs, "8859-1") || strings.Contains(cs, "8859-15") || strings.Contains(cs, "1252") || cs == "latin1"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x80:
			b.WriteByte(c)
		case ok:
			b.WriteRune(rune(c))
		default:
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// noSpace reads b without line breaks and blanks (base64 lines).
type noSpace struct{ b []byte }

func (s *noSpace) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(s.b) > 0 {
		c := s.b[0]
		s.b = s.b[1:]
		if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
			p[n] = c
			n++
		}
	}
	if n == 0 && len(s.b) == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// invisible reports the characters that render as nothing and are used
// to split words so that a filter does not see them.
func invisible(r rune) bool {
	switch r {
	case 0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E,
		0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF:
		return true
	}
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069
}

// words adds the words of s (lower-case, invisible characters removed)
// with the given prefix, and the domains of the links in it. Plain ASCII
// words are cut from s without a copy.
func (t *tokenizer) words(s, prefix string) {
	start := -1
	upper, slow := false, false // the word has upper case; non-ASCII or invisible characters
	flush := func(end int) {
		if start < 0 {
			return
		}
		w := s[start:end]
		switch {
		case slow:
			w = strings.Map(func(r rune) rune {
				if invisible(r) {
					return -1
				}
				return unicode.ToLower(r)
			}, w)
		case upper:
			if len(w) >= 3 && strings.ToUpper(w) == w {
				t.add("caps:" + prefix + w[:min(len(w), 25)])
				if prefix == "" {
					t.shape.caps++
				}
			} else if len(w) >= 3 && len(w) <= 25 && (prefix == "" || prefix == "s:") {
				t.add(caseVariant + prefix + w)
			}
			w = strings.ToLower(w)
		}
		t.word(w, prefix)
		if prefix == "" {
			t.shape.words++
		}
		start, upper, slow = -1, false, false
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if start < 0 && prefix == "" && (c|0x20 == 'h' || c|0x20 == 'w') &&
				(hasPrefixFold(s[i:], "http://") || hasPrefixFold(s[i:], "https://") || hasPrefixFold(s[i:], "www.")) {
				i += t.url(s[i:])
				continue
			}
			if prefix == "" && i+1 < len(s) && (c == '$' && '0' <= s[i+1] && s[i+1] <= '9' || '0' <= c && c <= '9' && s[i+1] == '%') {
				if c == '$' {
					t.shape.money++
				} else {
					t.shape.pct++
				}
			}
			switch {
			case 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '$' || c == '\'' && start >= 0:
			case 'A' <= c && c <= 'Z':
				upper = true
			default:
				flush(i)
				i++
				continue
			}
			if start < 0 {
				start = i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case invisible(r):
			if start >= 0 {
				slow = true
				t.add("h:invisible-char")
			}
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if start < 0 {
				start = i
			}
			slow = true
		default:
			flush(i)
		}
		i += size
	}
	flush(len(s))
}

// word adds one word: 3 to 25 characters, not all digits; a longer one
// counts by its length, as a "skip" token (SpamBayes does the same).
func (t *tokenizer) word(w, prefix string) {
	w = strings.Trim(w, "'")
	n := utf8.RuneCountInString(w)
	switch {
	case n < 3:
		return
	case n > 25:
		t.add(prefix + "skip:" + string(rune('a'+min(n/10, 25))))
		return
	}
	digits := true
	for _, r := range w {
		digits = digits && unicode.IsDigit(r)
	}
	if digits {
		return
	}
	t.add(prefix + w)
}

// url adds the domain of the link at the start of s and returns its length.
func (t *tokenizer) url(s string) int {
	t.shape.urls++
	end := strings.IndexFunc(s, func(r rune) bool {
		return r <= ' ' || r == '"' || r == '\'' || r == '<' || r == '>' || r == ')' || r == ']'
	})
	if end < 0 {
		end = len(s)
	}
	u := s[:end]
	host := u
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
		t.add("url:userinfo")
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" {
		return max(end, 1)
	}
	if host[0] >= '0' && host[0] <= '9' && strings.Count(host, ".") == 3 || host[0] == '[' {
		t.add("url:ip")
	} else {
		t.add("url:" + host)
		t.add("url:" + OrgDomain(host))
	}
	return max(end, 1)
}

func hasPrefixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}
