package wire

import (
	"strings"
	"time"
)

// SearchKey is one node of a SEARCH key tree. Key is the search key in
// upper case as RFC 9051 6.4.4 names it, with these additions: "AND"
// for a parenthesised list or the whole of a SEARCH (Children), and
// "SEQSET" for a bare sequence set (Seq). The fields a key uses:
//
//   - AND: Children; NOT: Children[0]; OR: Children[0], Children[1]
//   - BCC, BODY, CC, FROM, SUBJECT, TEXT, TO: Str
//   - HEADER: Field (the header name) and Str
//   - KEYWORD, UNKEYWORD: Str (the keyword)
//   - BEFORE, ON, SINCE, SENTBEFORE, SENTON, SENTSINCE: Date (UTC midnight)
//   - LARGER, SMALLER, OLDER, YOUNGER: Num
//   - UID, SEQSET: Seq (Seq.Saved for "$")
//   - MODSEQ (RFC 7162): Num, and Field/Str for the optional entry name
//     and entry type (priv, shared, all)
//   - ALL, ANSWERED, DELETED, DRAFT, FLAGGED, NEW, OLD, RECENT, SEEN,
//     UNANSWERED, UNDELETED, UNDRAFT, UNFLAGGED, UNSEEN: nothing
type SearchKey struct {
	Key      string
	Children []SearchKey
	Str      string
	Field    string
	Date     time.Time
	Num      uint64
	Seq      SeqSet
}

// searchArg is the argument each search key takes.
type searchArg int

const (
	argNone searchArg = iota
	argString
	argDate
	argNumber
	argKeyword
	argHeader
)

var searchKeys = map[string]searchArg{
	"ALL": argNone, "ANSWERED": argNone, "DELETED": argNone, "DRAFT": argNone,
	"FLAGGED": argNone, "NEW": argNone, "OLD": argNone, "RECENT": argNone,
	"SEEN": argNone, "UNANSWERED": argNone, "UNDELETED": argNone,
	"UNDRAFT": argNone, "UNFLAGGED": argNone, "UNSEEN": argNone,
	"BCC": argString, "BODY": argString, "CC": argString, "FROM": argString,
	"SUBJECT": argString, "TEXT": argString, "TO": argString,
	"BEFORE": argDate, "ON": argDate, "SINCE": argDate, "SENTBEFORE": argDate,
	"SENTON": argDate, "SENTSINCE": argDate,
	"LARGER": argNumber, "SMALLER": argNumber, "OLDER": argNumber, "YOUNGER": argNumber,
	"KEYWORD": argKeyword, "UNKEYWORD": argKeyword,
	"HEADER": argHeader,
}

func parseSearch(r *Reader, _ *Command) (any, error) {
	s := &Search{}
	if err := r.sp(); err != nil {
		return nil, err
	}
	first, err := r.searchPrefix(s)
	if err != nil {
		return nil, err
	}
	root := SearchKey{Key: "AND"}
	for {
		if err := r.arg(); err != nil {
			return nil, err
		}
		k, err := r.searchKey(first)
		if err != nil {
			return nil, err
		}
		first = ""
		root.Children = append(root.Children, k)
		if ok, err := r.maybeSP(); err != nil || !ok {
			if err != nil {
				return nil, err
			}
			break
		}
	}
	s.Key = &root
	return s, nil
}

// searchPrefix reads the optional RETURN and CHARSET; it returns the
// atom read past them when it was a search key's name.
func (r *Reader) searchPrefix(s *Search) (string, error) {
	c, err := r.peek()
	if err != nil || c == '(' || c == '$' || c == '*' || (c >= '0' && c <= '9') {
		return "", err
	}
	k, err := r.keyword()
	if err != nil {
		return "", err
	}
	if k == "RETURN" {
		if err := r.sp(); err != nil {
			return "", err
		}
		s.ESearch, s.Return = true, []string{}
		if err := r.list(true, func() error {
			o, err := r.keyword()
			if err != nil {
				return err
			}
			switch o {
			case "MIN", "MAX", "ALL", "COUNT", "SAVE":
			default:
				return syntaxError("unknown SEARCH RETURN option " + truncate(o))
			}
			s.Return = append(s.Return, o)
			return nil
		}); err != nil {
			return "", err
		}
		if err := r.sp(); err != nil {
			return "", err
		}
		if c, err = r.peek(); err != nil || c == '(' || c == '$' || c == '*' || (c >= '0' && c <= '9') {
			return "", err
		}
		if k, err = r.keyword(); err != nil {
			return "", err
		}
	}
	if k == "CHARSET" {
		if err := r.sp(); err != nil {
			return "", err
		}
		if s.Charset, err = r.astring(); err != nil {
			return "", err
		}
		s.Charset = strings.ToUpper(s.Charset)
		if err := r.sp(); err != nil {
			return "", err
		}
		return "", nil
	}
	return k, nil
}

// searchKey reads one key; name is its already-read keyword, if any.
func (r *Reader) searchKey(name string) (SearchKey, error) {
	if name == "" {
		c, err := r.peek()
		if err != nil {
			return SearchKey{}, err
		}
		if c == '(' {
			k := SearchKey{Key: "AND"}
			err := r.list(false, func() error {
				child, err := r.searchKey("")
				k.Children = append(k.Children, child)
				return err
			})
			return k, err
		}
		if isSeqChar(c) {
			set, err := r.seqSet(true)
			return SearchKey{Key: "SEQSET", Seq: set}, err
		}
		if name, err = r.keyword(); err != nil {
			return SearchKey{}, err
		}
	}
	switch name {
	case "NOT", "OR":
		return r.searchLogic(name)
	case "UID":
		if err := r.sp(); err != nil {
			return SearchKey{}, err
		}
		set, err := r.seqSet(true)
		return SearchKey{Key: "UID", Seq: set}, err
	case "MODSEQ":
		return r.searchModSeq()
	}
	arg, ok := searchKeys[name]
	if !ok {
		return SearchKey{}, syntaxError("unknown search key " + truncate(name))
	}
	k := SearchKey{Key: name}
	if arg == argNone {
		return k, nil
	}
	if err := r.sp(); err != nil {
		return k, err
	}
	return k, r.searchArg(&k, arg)
}

func (r *Reader) searchArg(k *SearchKey, arg searchArg) error {
	var err error
	switch arg {
	case argString:
		k.Str, err = r.astring()
	case argKeyword:
		k.Str, err = r.flag() // a system flag is tolerated (KEYWORD \Recent)
	case argNumber:
		k.Num, err = r.number(maxInt63)
	case argDate:
		k.Date, err = r.searchDate()
	case argHeader:
		if k.Field, err = r.astring(); err != nil {
			return err
		}
		if err = r.sp(); err != nil {
			return err
		}
		k.Str, err = r.astring()
	}
	return err
}

func (r *Reader) searchLogic(name string) (SearchKey, error) {
	k := SearchKey{Key: name}
	if err := r.enter(); err != nil {
		return k, err
	}
	defer r.leave()
	n := 1
	if name == "OR" {
		n = 2
	}
	for range n {
		if err := r.sp(); err != nil {
			return k, err
		}
		if err := r.arg(); err != nil {
			return k, err
		}
		child, err := r.searchKey("")
		if err != nil {
			return k, err
		}
		k.Children = append(k.Children, child)
	}
	return k, nil
}

// searchModSeq reads MODSEQ [SP entry-name SP entry-type-req] SP n.
func (r *Reader) searchModSeq() (SearchKey, error) {
	k := SearchKey{Key: "MODSEQ"}
	if err := r.sp(); err != nil {
		return k, err
	}
	c, err := r.peek()
	if err != nil {
		return k, err
	}
	if c == '"' {
		if k.Field, err = r.quoted(); err != nil {
			return k, err
		}
		if err := r.sp(); err != nil {
			return k, err
		}
		if k.Str, err = r.keyword(); err != nil {
			return k, err
		}
		if k.Str != "PRIV" && k.Str != "SHARED" && k.Str != "ALL" {
			return k, syntaxError("bad MODSEQ entry type")
		}
		if err := r.sp(); err != nil {
			return k, err
		}
	}
	k.Num, err = r.number(maxInt63)
	return k, err
}

// searchDate reads date-text, quoted or not.
func (r *Reader) searchDate() (time.Time, error) {
	c, err := r.peek()
	if err != nil {
		return time.Time{}, err
	}
	var s string
	if c == '"' {
		s, err = r.quoted()
	} else {
		s, err = r.atom()
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse("2-Jan-2006", s)
	if err != nil {
		return time.Time{}, syntaxError("bad date")
	}
	return t, nil
}
