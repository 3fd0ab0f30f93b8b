package wire

import ()

// Command is one parsed client command.
type Command struct {
	Tag string
	// Name is the command in upper case ("FETCH", "UID" is not a name:
	// see UID).
	Name string
	// UID is set for UID COPY/MOVE/FETCH/SEARCH/STORE/EXPUNGE.
	UID bool
	// Args is nil for commands without arguments, else one of the
	// pointer types below (*Login for LOGIN, *Fetch for FETCH, ...).
	Args any
}

// Authenticate is AUTHENTICATE mechanism [initial-response] (RFC 9051
// 6.2.2, SASL-IR RFC 4959).
type Authenticate struct {
	Mechanism string // upper case
	// Initial is the initial response still base64-encoded; "=" is an
	// empty one. HasInitial tells whether one was sent.
	Initial    string
	HasInitial bool
}

// Login is LOGIN user password.
type Login struct{ User, Password string }

// Enable is ENABLE capability... (RFC 5161), names in upper case.
type Enable struct{ Caps []string }

// Select is SELECT or EXAMINE (Command.Name tells which).
type Select struct {
	Mailbox   string
	CondStore bool
	QResync   *QResync
}

// QResync is SELECT's QRESYNC parameter (RFC 7162 3.2.5).
type QResync struct {
	UIDValidity uint32
	ModSeq      uint64
	KnownUIDs   *SeqSet
	// SeqMatch is the optional (known-sequence-set known-uid-set).
	KnownSeqs, KnownSeqUIDs *SeqSet
}

// Mailbox is the argument of DELETE, SUBSCRIBE, UNSUBSCRIBE,
// GETQUOTAROOT.
type Mailbox struct{ Name string }

// Create is CREATE mailbox [(USE (special-use...))] (RFC 6154 5.2).
type Create struct {
	Mailbox string
	Use     []string
}

// Rename is RENAME from to.
type Rename struct{ From, To string }

// List is LIST (RFC 9051 6.3.9, LIST-EXTENDED RFC 5258, LIST-STATUS
// RFC 5819) or LSUB (Command.Name).
type List struct {
	Reference string
	Patterns  []string
	// Select holds the selection options in upper case (SUBSCRIBED,
	// REMOTE, RECURSIVEMATCH, SPECIAL-USE).
	Select []string
	// Return holds the return options but STATUS in upper case
	// (SUBSCRIBED, CHILDREN, SPECIAL-USE); nil when there was no
	// RETURN, empty for RETURN (). Select is nil likewise without a
	// selection list (a plain LIST).
	Return []string
	// Status is the RETURN (STATUS (...)) items, nil when absent.
	Status []string
}

// Status is STATUS mailbox (items), items in upper case.
type Status struct {
	Mailbox string
	Items   []string
}

// Search is SEARCH (RFC 9051 6.4.4, ESEARCH RFC 4731, SEARCHRES RFC
// 5182, CONDSTORE's MODSEQ key).
type Search struct {
	Charset string
	// Return is the RETURN options in upper case (MIN MAX ALL COUNT
	// SAVE); ESearch tells whether RETURN was given at all (an empty
	// RETURN () means ALL, in an ESEARCH answer).
	Return  []string
	ESearch bool
	Key     *SearchKey
}

// Store is STORE set [(UNCHANGEDSINCE n)] [+|-]FLAGS[.SILENT] flags.
type Store struct {
	Seq SeqSet
	// Op is '+', '-' or 0 for replace.
	Op             byte
	Silent         bool
	Flags          []string
	UnchangedSince uint64
	HasUnchanged   bool
}

// Copy is COPY or MOVE set mailbox.
type Copy struct {
	Seq     SeqSet
	Mailbox string
}

// Expunge is UID EXPUNGE set (RFC 4315); plain EXPUNGE has no Args.
type Expunge struct{ Seq SeqSet }

// ID is ID (RFC 2971): Fields is nil for "ID NIL". A NIL value is
// kept as Nil true.
type ID struct{ Fields []IDField }

// IDField is one field of ID.
type IDField struct {
	Name, Value string
	Nil         bool
}

// QuotaRoot is the argument of GETQUOTA.
type QuotaRoot struct{ Root string }

// SetQuota is SETQUOTA root (resource limit ...) (RFC 9208 4.1.3).
type SetQuota struct {
	Root   string
	Limits []QuotaLimit
}

// QuotaLimit is one resource and its limit.
type QuotaLimit struct {
	Resource string // upper case
	Limit    uint64
}

// Compress is COMPRESS mechanism (RFC 4978), upper case.
type Compress struct{ Mechanism string }

// ReadCommand reads the next command. It returns an *Error for a
// command the client must be answered about (Error.Kind tells how) and
// any other error when the connection failed. For APPEND, read the
// message from Append.Message.Body, then call NextAppend.
func (r *Reader) ReadCommand() (*Command, error) {
	if r.appending != nil {
		if err := r.AbortAppend(); err != nil {
			return nil, err
		}
	}
	if r.skip > 0 {
		if err := r.skipRefused(); err != nil {
			return nil, err
		}
	}
	r.reset()
	cmd, err := r.readCommand()
	if err != nil {
		return nil, r.fail(err)
	}
	return cmd, nil
}

func (r *Reader) readCommand() (*Command, error) {
	c, err := r.peek()
	if err != nil {
		return nil, err
	}
	if c == '\r' || c == '\n' {
		return nil, syntaxError("empty command line")
	}
	if r.tag, err = r.word(isTagChar, "a tag"); err != nil {
		return nil, err
	}
	if err := r.sp(); err != nil {
		return nil, err
	}
	name, err := r.keyword()
	if err != nil {
		return nil, err
	}
	cmd := &Command{Tag: r.tag, Name: name}
	if name == "UID" {
		if err := r.sp(); err != nil {
			return nil, err
		}
		if cmd.Name, err = r.keyword(); err != nil {
			return nil, err
		}
		cmd.UID = true
		switch cmd.Name {
		case "COPY", "MOVE", "FETCH", "SEARCH", "STORE", "EXPUNGE":
		default:
			return nil, syntaxError("unknown UID command " + cmd.Name)
		}
	}
	parse, ok := parsers[cmd.Name]
	if !ok {
		return nil, syntaxError("unknown command " + truncate(cmd.Name))
	}
	if cmd.Args, err = parse(r, cmd); err != nil {
		return nil, err
	}
	if _, pending := cmd.Args.(*Append); pending {
		return cmd, nil // the line goes on after the message
	}
	if err := r.crlf(); err != nil {
		return nil, err
	}
	return cmd, nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

type parser func(r *Reader, c *Command) (any, error)

var none parser = func(*Reader, *Command) (any, error) { return nil, nil }

// parsers maps a command name to the parser of its arguments.
var parsers = map[string]parser{
	"CAPABILITY": none, "NOOP": none, "LOGOUT": none, "STARTTLS": none,
	"NAMESPACE": none, "IDLE": none, "CHECK": none, "CLOSE": none,
	"UNSELECT":     none,
	"AUTHENTICATE": parseAuthenticate, "LOGIN": parseLogin,
	"ENABLE": parseEnable, "SELECT": parseSelect, "EXAMINE": parseSelect,
	"CREATE": parseCreate, "DELETE": parseMailboxArg,
	"SUBSCRIBE": parseMailboxArg, "UNSUBSCRIBE": parseMailboxArg,
	"GETQUOTAROOT": parseMailboxArg, "RENAME": parseRename,
	"LIST": parseList, "LSUB": parseLsub, "STATUS": parseStatus,
	"APPEND": parseAppend, "EXPUNGE": parseExpunge,
	"SEARCH": parseSearch, "FETCH": parseFetch, "STORE": parseStore,
	"COPY": parseCopy, "MOVE": parseCopy, "ID": parseID,
	"GETQUOTA": parseGetQuota, "SETQUOTA": parseSetQuota,
	"COMPRESS": parseCompress, "NOTIFY": parseNotify,
}

func parseAuthenticate(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	mech, err := r.keyword()
	if err != nil {
		return nil, err
	}
	a := &Authenticate{Mechanism: mech}
	if ok, err := r.maybeSP(); err != nil || !ok {
		return a, err
	}
	a.Initial, err = r.word(isBase64Char, "an initial response")
	if err != nil {
		return nil, err
	}
	a.HasInitial = true
	return a, nil
}

func isBase64Char(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}

func parseLogin(r *Reader, _ *Command) (any, error) {
	var l Login
	var err error
	if err = r.sp(); err != nil {
		return nil, err
	}
	if l.User, err = r.astring(); err != nil {
		return nil, err
	}
	if err = r.sp(); err != nil {
		return nil, err
	}
	if l.Password, err = r.astring(); err != nil {
		return nil, err
	}
	return &l, nil
}

func parseEnable(r *Reader, _ *Command) (any, error) {
	e := &Enable{}
	for {
		ok, err := r.maybeSP()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if err := r.arg(); err != nil {
			return nil, err
		}
		c, err := r.keyword()
		if err != nil {
			return nil, err
		}
		e.Caps = append(e.Caps, c)
	}
	if len(e.Caps) == 0 {
		return nil, syntaxError("ENABLE needs a capability")
	}
	return e, nil
}

// mailbox reads a mailbox name and decodes it.
func (r *Reader) mailbox() (string, error) {
	s, err := r.astring()
	if err != nil {
		return "", err
	}
	return DecodeMailbox(s, r.UTF8)
}

func parseMailboxArg(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	m, err := r.mailbox()
	if err != nil {
		return nil, err
	}
	return &Mailbox{Name: m}, nil
}

func parseRename(r *Reader, _ *Command) (any, error) {
	var rn Rename
	var err error
	if err = r.sp(); err != nil {
		return nil, err
	}
	if rn.From, err = r.mailbox(); err != nil {
		return nil, err
	}
	if err = r.sp(); err != nil {
		return nil, err
	}
	if rn.To, err = r.mailbox(); err != nil {
		return nil, err
	}
	return &rn, nil
}

func parseCreate(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	m, err := r.mailbox()
	if err != nil {
		return nil, err
	}
	c := &Create{Mailbox: m}
	if ok, err := r.maybeSP(); err != nil || !ok {
		return c, err
	}
	err = r.list(false, func() error {
		k, err := r.keyword()
		if err != nil {
			return err
		}
		if k != "USE" {
			return syntaxError("unknown CREATE parameter " + truncate(k))
		}
		if err := r.sp(); err != nil {
			return err
		}
		return r.list(true, func() error {
			f, err := r.flag()
			c.Use = append(c.Use, f)
			return err
		})
	})
	return c, err
}

func parseSelect(r *Reader, _ *Command) (any, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	m, err := r.mailbox()
	if err != nil {
		return nil, err
	}
	s := &Select{Mailbox: m}
	if ok, err := r.maybeSP(); err != nil || !ok {
		return s, err
	}
	err = r.list(false, func() error {
		k, err := r.keyword()
		if err != nil {
			return err
		}
		switch k {
		case "CONDSTORE":
			s.CondStore = true
			return nil
		case "QRESYNC":
			if err := r.sp(); err != nil {
				return err
			}
			s.QResync, err = r.qresync()
			return err
		}
		return syntaxError("unknown SELECT parameter " + truncate(k))
	})
	return s, err
}

// qresync reads "(" uidvalidity SP modseq [SP known-uids]
// [SP seq-match-data] ")" (RFC 7162 3.2.5.1).
func (r *Reader) qresync() (*QResync, error) {
	if err := r.expect('('); err != nil {
		return nil, err
	}
	q := &QResync{}
	v, err := r.nzNumber()
	if err != nil {
		return nil, err
	}
	q.UIDValidity = v
	if err := r.sp(); err != nil {
		return nil, err
	}
	if q.ModSeq, err = r.number(maxInt63); err != nil {
		return nil, err
	}
	for {
		c, err := r.next()
		if err != nil {
			return nil, err
		}
		if c == ')' {
			return q, nil
		}
		if c != ' ' {
			return nil, syntaxError("bad QRESYNC parameter")
		}
		if c, err = r.peek(); err != nil {
			return nil, err
		}
		if c == '(' && q.KnownSeqs == nil {
			if err := r.seqMatch(q); err != nil {
				return nil, err
			}
			continue
		}
		if q.KnownUIDs != nil || q.KnownSeqs != nil {
			return nil, syntaxError("bad QRESYNC parameter")
		}
		set, err := r.seqSet(false)
		if err != nil {
			return nil, err
		}
		q.KnownUIDs = &set
	}
}

func (r *Reader) seqMatch(q *QResync) error {
	if err := r.expect('('); err != nil {
		return err
	}
	seqs, err := r.seqSet(false)
	if err != nil {
		return err
	}
	if err := r.sp(); err != nil {
		return err
	}
	uids, err := r.seqSet(false)
	if err != nil {
		return err
	}
	q.KnownSeqs, q.KnownSeqUIDs = &seqs, &uids
	return r.expect(')')
}
