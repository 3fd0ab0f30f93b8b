package wire

// Notify is NOTIFY (RFC 5465): NONE, or SET [STATUS] event groups.
type Notify struct {
	None   bool
	Status bool
	Groups []NotifyGroup
}

// NotifyGroup is one (filter events) group. Filter is SELECTED,
// SELECTED-DELAYED, INBOXES, PERSONAL, SUBSCRIBED, SUBTREE or
// MAILBOXES (upper case); Mailboxes holds the names of the last two.
// Events nil means NONE.
type NotifyGroup struct {
	Filter    string
	Mailboxes []string
	Events    []NotifyEvent
}

// NotifyEvent is one event name (upper case, e.g. MESSAGENEW) with the
// fetch attributes MessageNew may carry.
type NotifyEvent struct {
	Name  string
	Fetch []FetchItem
}

var notifyEvents = map[string]bool{
	"MESSAGENEW": true, "MESSAGEEXPUNGE": true, "FLAGCHANGE": true,
	"ANNOTATIONCHANGE": true, "MAILBOXNAME": true, "SUBSCRIPTIONCHANGE": true,
	"MAILBOXMETADATACHANGE": true, "SERVERMETADATACHANGE": true,
}

func parseNotify(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	k, err := r.keyword()
	if err != nil {
		return nil, err
	}
	n := &Notify{}
	switch k {
	case "NONE":
		n.None = true
		return n, nil
	case "SET":
	default:
		return nil, syntaxError("expected NOTIFY SET or NONE")
	}
	if err := r.sp(); err != nil {
		return nil, err
	}
	c, err := r.peek()
	if err != nil {
		return nil, err
	}
	if c != '(' {
		if k, err = r.keyword(); err != nil || k != "STATUS" {
			if err == nil {
				err = syntaxError("expected STATUS or an event group")
			}
			return nil, err
		}
		n.Status = true
		if err := r.sp(); err != nil {
			return nil, err
		}
	}
	for {
		if err := r.arg(); err != nil {
			return nil, err
		}
		g, err := r.notifyGroup()
		if err != nil {
			return nil, err
		}
		n.Groups = append(n.Groups, g)
		if ok, err := r.maybeSP(); err != nil || !ok {
			return n, err
		}
	}
}

func (r *Reader) notifyGroup() (NotifyGroup, error) {
	var g NotifyGroup
	if err := r.expect('('); err != nil {
		return g, err
	}
	if err := r.enter(); err != nil {
		return g, err
	}
	defer r.leave()
	f, err := r.keyword()
	if err != nil {
		return g, err
	}
	g.Filter = f
	switch f {
	case "SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED":
	case "SUBTREE", "MAILBOXES":
		if err := r.sp(); err != nil {
			return g, err
		}
		if g.Mailboxes, err = r.oneOrMoreMailbox(); err != nil {
			return g, err
		}
	default:
		return g, syntaxError("unknown NOTIFY filter " + truncate(f))
	}
	if err := r.sp(); err != nil {
		return g, err
	}
	if g.Events, err = r.notifyEvents(); err != nil {
		return g, err
	}
	return g, r.expect(')')
}

func (r *Reader) oneOrMoreMailbox() ([]string, error) {
	c, err := r.peek()
	if err != nil {
		return nil, err
	}
	if c != '(' {
		m, err := r.mailbox()
		return []string{m}, err
	}
	var ms []string
	err = r.list(false, func() error {
		m, err := r.mailbox()
		ms = append(ms, m)
		return err
	})
	return ms, err
}

func (r *Reader) notifyEvents() ([]NotifyEvent, error) {
	c, err := r.peek()
	if err != nil {
		return nil, err
	}
	if c != '(' {
		k, err := r.keyword()
		if err == nil && k != "NONE" {
			err = syntaxError("expected events or NONE")
		}
		return nil, err
	}
	evs := []NotifyEvent{}
	err = r.list(false, func() error {
		name, err := r.keyword()
		if err != nil {
			return err
		}
		if !notifyEvents[name] {
			return syntaxError("unknown NOTIFY event " + truncate(name))
		}
		ev := NotifyEvent{Name: name}
		if name == "MESSAGENEW" {
			if ev.Fetch, err = r.messageNewFetch(); err != nil {
				return err
			}
		}
		evs = append(evs, ev)
		return nil
	})
	return evs, err
}

// messageNewFetch reads MessageNew's optional " (fetch-att ...)".
func (r *Reader) messageNewFetch() ([]FetchItem, error) {
	b, err := r.br.Peek(2)
	if err != nil || b[0] != ' ' || b[1] != '(' {
		return nil, nil // not there; what follows is checked by the caller
	}
	if _, err := r.next(); err != nil {
		return nil, err
	}
	var items []FetchItem
	err = r.list(false, func() error {
		it, err := r.fetchAtt()
		items = append(items, it)
		return err
	})
	return items, err
}
