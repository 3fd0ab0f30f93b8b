package wire

import "strings"

// listMailbox reads a LIST pattern: list-char atoms or a string.
func (r *Reader) listMailbox() (string, error) {
	c, err := r.peek()
	if err != nil {
		return "", err
	}
	var s string
	if c == '"' || c == '{' {
		s, err = r.str()
	} else {
		s, err = r.word(isListChar, "a mailbox pattern")
	}
	if err != nil {
		return "", err
	}
	if strings.EqualFold(s, "INBOX") {
		return "INBOX", nil
	}
	if r.UTF8 {
		return s, nil
	}
	if d, err := decodeMUTF7(s); err == nil {
		return d, nil
	}
	// A pattern that is not modified UTF-7 matches no name; it is not
	// an error (LIST "" "&'+,-" is a legal pattern).
	return s, nil
}

func parseList(r *Reader, _ *Command) (any, error) {
	l := &List{}
	if err := r.sp(); err != nil {
		return nil, err
	}
	c, err := r.peek()
	if err != nil {
		return nil, err
	}
	if c == '(' {
		l.Select = []string{}
		if err := r.list(true, func() error {
			k, err := r.keyword()
			l.Select = append(l.Select, k)
			return err
		}); err != nil {
			return nil, err
		}
		if err := r.sp(); err != nil {
			return nil, err
		}
	}
	if l.Reference, err = r.listMailbox(); err != nil {
		return nil, err
	}
	if err := r.sp(); err != nil {
		return nil, err
	}
	if c, err = r.peek(); err != nil {
		return nil, err
	}
	if c == '(' {
		err = r.list(false, func() error {
			p, err := r.listMailbox()
			l.Patterns = append(l.Patterns, p)
			return err
		})
	} else {
		var p string
		p, err = r.listMailbox()
		l.Patterns = []string{p}
	}
	if err != nil {
		return nil, err
	}
	if ok, err := r.maybeSP(); err != nil || !ok {
		return l, err
	}
	return l, r.listReturn(l)
}

// listReturn reads RETURN (option...) of LIST-EXTENDED.
func (r *Reader) listReturn(l *List) error {
	k, err := r.keyword()
	if err != nil {
		return err
	}
	if k != "RETURN" {
		return syntaxError("expected RETURN")
	}
	if err := r.sp(); err != nil {
		return err
	}
	l.Return = []string{}
	return r.list(true, func() error {
		k, err := r.keyword()
		if err != nil {
			return err
		}
		if k != "STATUS" {
			l.Return = append(l.Return, k)
			return nil
		}
		if err := r.sp(); err != nil {
			return err
		}
		l.Status, err = r.statusItems()
		return err
	})
}

func parseLsub(r *Reader, _ *Command) (any, error) {
	l := &List{}
	var err error
	if err = r.sp(); err != nil {
		return nil, err
	}
	if l.Reference, err = r.listMailbox(); err != nil {
		return nil, err
	}
	if err = r.sp(); err != nil {
		return nil, err
	}
	p, err := r.listMailbox()
	l.Patterns = []string{p}
	return l, err
}

var statusItems = map[string]bool{
	"MESSAGES": true, "UIDNEXT": true, "UIDVALIDITY": true, "UNSEEN": true,
	"DELETED": true, "SIZE": true, "RECENT": true, "HIGHESTMODSEQ": true,
	"APPENDLIMIT": true, "MAILBOXID": true,
}

func (r *Reader) statusItems() ([]string, error) {
	var items []string
	err := r.list(false, func() error {
		k, err := r.keyword()
		if err != nil {
			return err
		}
		if !statusItems[k] {
			return syntaxError("unknown STATUS item " + truncate(k))
		}
		items = append(items, k)
		return nil
	})
	return items, err
}

func parseStatus(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	m, err := r.mailbox()
	if err != nil {
		return nil, err
	}
	if err := r.sp(); err != nil {
		return nil, err
	}
	items, err := r.statusItems()
	if err != nil {
		return nil, err
	}
	return &Status{Mailbox: m, Items: items}, nil
}

// systemFlags maps the lower-case system flags to their usual case.
var systemFlags = map[string]string{
	`\seen`: `\Seen`, `\answered`: `\Answered`, `\flagged`: `\Flagged`,
	`\deleted`: `\Deleted`, `\draft`: `\Draft`, `\recent`: `\Recent`,
	// RFC 6154 special-use attributes, for CREATE (USE ...).
	`\all`: `\All`, `\archive`: `\Archive`, `\drafts`: `\Drafts`,
	`\junk`: `\Junk`, `\sent`: `\Sent`, `\trash`: `\Trash`,
}

// flag reads a flag: "\" atom or a keyword atom. System flags come
// back in their usual case.
func (r *Reader) flag() (string, error) {
	c, err := r.peek()
	if err != nil {
		return "", err
	}
	if c != '\\' {
		return r.atom()
	}
	if _, err := r.next(); err != nil {
		return "", err
	}
	a, err := r.atom()
	if err != nil {
		return "", err
	}
	f := `\` + a
	if s, ok := systemFlags[strings.ToLower(f)]; ok {
		return s, nil
	}
	return f, nil
}

// flagList reads "(" [flag *(SP flag)] ")".
func (r *Reader) flagList() ([]string, error) {
	flags := []string{}
	err := r.list(true, func() error {
		f, err := r.flag()
		flags = append(flags, f)
		return err
	})
	return flags, err
}
