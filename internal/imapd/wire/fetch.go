package wire

import (
	"strconv"
	"strings"
)

// Fetch is FETCH set items [(CHANGEDSINCE n [VANISHED])] (RFC 9051
// 6.4.5, RFC 7162 3.1.4 and 3.2.6). Macros are expanded.
type Fetch struct {
	Seq             SeqSet
	Items           []FetchItem
	ChangedSince    uint64
	HasChangedSince bool
	Vanished        bool
}

// FetchItem is one fetch attribute. Name is ENVELOPE, FLAGS,
// INTERNALDATE, RFC822, RFC822.HEADER, RFC822.SIZE, RFC822.TEXT, BODY,
// BODYSTRUCTURE, UID, MODSEQ, BINARY or BINARY.SIZE. BODY with a
// Section is BODY[...]; without one, the non-extensible BODYSTRUCTURE.
type FetchItem struct {
	Name    string
	Peek    bool // BODY.PEEK or BINARY.PEEK: \Seen is not set
	Section *Section
	Partial *Partial
}

// Section is a body section (RFC 9051 6.4.5): Part is the part path
// (empty for the whole message), Specifier is "", HEADER,
// HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT or MIME, Fields the header
// names of HEADER.FIELDS[.NOT] as the client wrote them.
type Section struct {
	Part      []uint32
	Specifier string
	Fields    []string
}

// Partial is <offset.count> of a BODY[] or BINARY[] fetch.
type Partial struct{ Offset, Count uint32 }

// String writes the section the way a FETCH response names it, without
// brackets.
func (s *Section) String() string { return string(s.appendTo(nil)) }

func (s *Section) appendTo(b []byte) []byte {
	for i, p := range s.Part {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, uint64(p), 10)
	}
	if s.Specifier == "" {
		return b
	}
	if len(s.Part) > 0 {
		b = append(b, '.')
	}
	b = append(b, s.Specifier...)
	if len(s.Fields) > 0 {
		b = append(b, " ("...)
		for i, f := range s.Fields {
			if i > 0 {
				b = append(b, ' ')
			}
			b = appendAString(b, f)
		}
		b = append(b, ')')
	}
	return b
}

// ResponseName is how the item is named in a FETCH response: BODY.PEEK
// is BODY, and a partial fetch names only its origin
// ("BODY[1.TEXT]<100>").
func (it *FetchItem) ResponseName() string {
	if it.Section == nil {
		return it.Name
	}
	b := append([]byte(it.Name), '[')
	b = it.Section.appendTo(b)
	b = append(b, ']')
	if it.Partial != nil {
		b = append(b, '<')
		b = strconv.AppendUint(b, uint64(it.Partial.Offset), 10)
		b = append(b, '>')
	}
	return string(b)
}

var fetchMacros = map[string][]string{
	"ALL":  {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"},
	"FAST": {"FLAGS", "INTERNALDATE", "RFC822.SIZE"},
	"FULL": {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"},
}

var fetchAtts = map[string]bool{
	"ENVELOPE": true, "FLAGS": true, "INTERNALDATE": true, "RFC822": true,
	"RFC822.HEADER": true, "RFC822.SIZE": true, "RFC822.TEXT": true,
	"BODY": true, "BODYSTRUCTURE": true, "UID": true, "MODSEQ": true,
	"BODY.PEEK": true, "BINARY": true, "BINARY.PEEK": true, "BINARY.SIZE": true,
}

func parseFetch(r *Reader, _ *Command) (any, error) {
	f := &Fetch{}
	var err error
	if err = r.sp(); err != nil {
		return nil, err
	}
	if f.Seq, err = r.seqSet(true); err != nil {
		return nil, err
	}
	if err = r.sp(); err != nil {
		return nil, err
	}
	c, err := r.peek()
	if err != nil {
		return nil, err
	}
	if c == '(' {
		err = r.list(false, func() error {
			it, err := r.fetchAtt()
			f.Items = append(f.Items, it)
			return err
		})
	} else {
		err = r.fetchMacroOrAtt(f)
	}
	if err != nil {
		return nil, err
	}
	if ok, err := r.maybeSP(); err != nil || !ok {
		return f, err
	}
	return f, r.fetchModifiers(f)
}

func (r *Reader) fetchMacroOrAtt(f *Fetch) error {
	c, err := r.peek()
	if err != nil {
		return err
	}
	if c == 'a' || c == 'A' || c == 'f' || c == 'F' {
		w, err := r.word(isFetchAttChar, "a fetch attribute")
		if err != nil {
			return err
		}
		w = strings.ToUpper(w)
		if m, ok := fetchMacros[w]; ok {
			for _, n := range m {
				f.Items = append(f.Items, FetchItem{Name: n})
			}
			return nil
		}
		it, err := r.fetchAttNamed(w)
		f.Items = append(f.Items, it)
		return err
	}
	it, err := r.fetchAtt()
	f.Items = append(f.Items, it)
	return err
}

func (r *Reader) fetchAtt() (FetchItem, error) {
	w, err := r.word(isFetchAttChar, "a fetch attribute")
	if err != nil {
		return FetchItem{}, err
	}
	return r.fetchAttNamed(strings.ToUpper(w))
}

func (r *Reader) fetchAttNamed(w string) (FetchItem, error) {
	if !fetchAtts[w] {
		return FetchItem{}, syntaxError("unknown fetch attribute " + truncate(w))
	}
	it := FetchItem{Name: w}
	if w == "BODY.PEEK" || w == "BINARY.PEEK" {
		it.Name, it.Peek = strings.TrimSuffix(w, ".PEEK"), true
	}
	c, err := r.peek()
	if err != nil {
		return it, err
	}
	withSection := it.Name == "BODY" || it.Name == "BINARY" || it.Name == "BINARY.SIZE"
	if c != '[' {
		if it.Peek || it.Name == "BINARY" || it.Name == "BINARY.SIZE" {
			return it, syntaxError(w + " needs a section")
		}
		return it, nil
	}
	if !withSection {
		return it, syntaxError(w + " takes no section")
	}
	if it.Section, err = r.section(it.Name != "BODY"); err != nil {
		return it, err
	}
	if c, err = r.peek(); err != nil || c != '<' {
		return it, err
	}
	if it.Name == "BINARY.SIZE" {
		return it, syntaxError("BINARY.SIZE takes no partial")
	}
	it.Partial, err = r.partial()
	return it, err
}

// section reads "[" section-spec "]"; binary allows part numbers only.
func (r *Reader) section(binary bool) (*Section, error) {
	if err := r.expect('['); err != nil {
		return nil, err
	}
	s := &Section{}
	c, err := r.peek()
	if err != nil {
		return nil, err
	}
	if c != ']' {
		w, err := r.word(isFetchAttChar, "a section")
		if err != nil {
			return nil, err
		}
		if err := s.parse(strings.ToUpper(w), binary); err != nil {
			return nil, err
		}
		if strings.HasPrefix(s.Specifier, "HEADER.FIELDS") {
			if err := r.headerList(s); err != nil {
				return nil, err
			}
		}
	}
	return s, r.expect(']')
}

// parse splits "1.2.HEADER.FIELDS" into part numbers and specifier.
func (s *Section) parse(w string, binary bool) error {
	for w != "" && w[0] >= '0' && w[0] <= '9' {
		i := strings.IndexByte(w, '.')
		num := w
		if i >= 0 {
			num, w = w[:i], w[i+1:]
		} else {
			w = ""
		}
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil || n == 0 {
			return syntaxError("bad section part")
		}
		if len(s.Part) >= 100 {
			return &limitError{BAD, "LIMIT", "section part too deep"}
		}
		s.Part = append(s.Part, uint32(n))
		if i < 0 {
			break
		}
		if w == "" {
			return syntaxError("bad section")
		}
	}
	if w == "" {
		return nil
	}
	if binary {
		return syntaxError("BINARY takes part numbers only")
	}
	switch w {
	case "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT":
	case "MIME":
		if len(s.Part) == 0 {
			return syntaxError("MIME needs a part number")
		}
	default:
		return syntaxError("bad section " + truncate(w))
	}
	s.Specifier = w
	return nil
}

func (r *Reader) headerList(s *Section) error {
	if err := r.sp(); err != nil {
		return err
	}
	return r.list(false, func() error {
		f, err := r.astring()
		s.Fields = append(s.Fields, f)
		return err
	})
}

// partial reads "<" number "." nz-number ">".
func (r *Reader) partial() (*Partial, error) {
	if err := r.expect('<'); err != nil {
		return nil, err
	}
	off, err := r.number(maxUint32)
	if err != nil {
		return nil, err
	}
	if err := r.expect('.'); err != nil {
		return nil, err
	}
	n, err := r.nzNumber()
	if err != nil {
		return nil, err
	}
	return &Partial{Offset: uint32(off), Count: n}, r.expect('>')
}

func (r *Reader) fetchModifiers(f *Fetch) error {
	err := r.list(false, func() error {
		k, err := r.keyword()
		if err != nil {
			return err
		}
		switch k {
		case "CHANGEDSINCE":
			if err := r.sp(); err != nil {
				return err
			}
			f.ChangedSince, err = r.number(maxInt63)
			f.HasChangedSince = true
			return err
		case "VANISHED":
			f.Vanished = true
			return nil
		}
		return syntaxError("unknown FETCH modifier " + truncate(k))
	})
	if err == nil && f.Vanished && !f.HasChangedSince {
		err = syntaxError("VANISHED needs CHANGEDSINCE")
	}
	return err
}
