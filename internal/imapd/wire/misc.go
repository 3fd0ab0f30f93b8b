package wire

import "strings"

func parseCopy(r *Reader, _ *Command) (any, error) {
	var c Copy
	var err error
	if err = r.sp(); err != nil {
		return nil, err
	}
	if c.Seq, err = r.seqSet(true); err != nil {
		return nil, err
	}
	if err = r.sp(); err != nil {
		return nil, err
	}
	if c.Mailbox, err = r.mailbox(); err != nil {
		return nil, err
	}
	return &c, nil
}

func parseExpunge(r *Reader, c *Command) (any, error) {
	if !c.UID {
		return nil, nil
	}
	if err := r.sp(); err != nil {
		return nil, err
	}
	s, err := r.seqSet(true)
	if err != nil {
		return nil, err
	}
	return &Expunge{Seq: s}, nil
}

func parseStore(r *Reader, _ *Command) (any, error) {
	s := &Store{}
	var err error
	if err = r.sp(); err != nil {
		return nil, err
	}
	if s.Seq, err = r.seqSet(true); err != nil {
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
		if err := r.storeModifiers(s); err != nil {
			return nil, err
		}
		if err = r.sp(); err != nil {
			return nil, err
		}
	}
	item, err := r.atom()
	if err != nil {
		return nil, err
	}
	item = strings.ToUpper(item)
	if item[0] == '+' || item[0] == '-' {
		s.Op, item = item[0], item[1:]
	}
	switch item {
	case "FLAGS":
	case "FLAGS.SILENT":
		s.Silent = true
	default:
		return nil, syntaxError("unknown STORE item " + truncate(item))
	}
	if err = r.sp(); err != nil {
		return nil, err
	}
	if c, err = r.peek(); err != nil {
		return nil, err
	}
	if c == '(' {
		s.Flags, err = r.flagList()
		return s, err
	}
	for {
		if err := r.arg(); err != nil {
			return nil, err
		}
		f, err := r.flag()
		if err != nil {
			return nil, err
		}
		s.Flags = append(s.Flags, f)
		if ok, err := r.maybeSP(); err != nil || !ok {
			return s, err
		}
	}
}

func (r *Reader) storeModifiers(s *Store) error {
	return r.list(false, func() error {
		k, err := r.keyword()
		if err != nil {
			return err
		}
		if k != "UNCHANGEDSINCE" {
			return syntaxError("unknown STORE modifier " + truncate(k))
		}
		if err := r.sp(); err != nil {
			return err
		}
		s.UnchangedSince, err = r.number(maxInt63)
		s.HasUnchanged = true
		return err
	})
}

func parseID(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	id := &ID{}
	c, err := r.peek()
	if err != nil {
		return nil, err
	}
	if c != '(' {
		if _, ok, err := r.nstring(); err != nil || ok {
			if err == nil {
				err = syntaxError("expected NIL or a list")
			}
			return nil, err
		}
		return id, nil
	}
	id.Fields = []IDField{}
	err = r.list(false, func() error {
		var f IDField
		var err error
		if f.Name, err = r.str(); err != nil {
			return err
		}
		if err = r.sp(); err != nil {
			return err
		}
		var ok bool
		f.Value, ok, err = r.nstring()
		f.Nil = !ok
		id.Fields = append(id.Fields, f)
		return err
	})
	return id, err
}

func parseGetQuota(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	root, err := r.astring()
	if err != nil {
		return nil, err
	}
	return &QuotaRoot{Root: root}, nil
}

func parseSetQuota(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	root, err := r.astring()
	if err != nil {
		return nil, err
	}
	if err := r.sp(); err != nil {
		return nil, err
	}
	sq := &SetQuota{Root: root, Limits: []QuotaLimit{}}
	err = r.list(true, func() error {
		var l QuotaLimit
		var err error
		if l.Resource, err = r.keyword(); err != nil {
			return err
		}
		if err = r.sp(); err != nil {
			return err
		}
		l.Limit, err = r.number(maxInt63)
		sq.Limits = append(sq.Limits, l)
		return err
	})
	return sq, err
}

func parseCompress(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	m, err := r.keyword()
	if err != nil {
		return nil, err
	}
	return &Compress{Mechanism: m}, nil
}
