package wire

import (
	"io"
	"strconv"
	"time"
)

// Response codes without arguments (RFC 9051 7.1 and extensions).
const (
	CodeAlert          = "ALERT"
	CodeAlreadyExists  = "ALREADYEXISTS"
	CodeAuthFailed     = "AUTHENTICATIONFAILED"
	CodeCannot         = "CANNOT"
	CodeClosed         = "CLOSED"
	CodeContactAdmin   = "CONTACTADMIN"
	CodeExpungeIssued  = "EXPUNGEISSUED"
	CodeInUse          = "INUSE"
	CodeLimit          = "LIMIT"
	CodeNonExistent    = "NONEXISTENT"
	CodeNoModSeq       = "NOMODSEQ"
	CodeNoPerm         = "NOPERM"
	CodeOverQuota      = "OVERQUOTA"
	CodeParse          = "PARSE"
	CodePrivacyReq     = "PRIVACYREQUIRED"
	CodeReadOnly       = "READ-ONLY"
	CodeReadWrite      = "READ-WRITE"
	CodeServerBug      = "SERVERBUG"
	CodeTooBig         = "TOOBIG"
	CodeTryCreate      = "TRYCREATE"
	CodeUnavailable    = "UNAVAILABLE"
	CodeUnknownCTE     = "UNKNOWN-CTE"
	CodeUIDNotSticky   = "UIDNOTSTICKY"
	CodeCompressActive = "COMPRESSIONACTIVE"
)

// CodeAppendUID is APPENDUID (RFC 4315).
func CodeAppendUID(validity uint32, uids SeqSet) string {
	return "APPENDUID " + u32(validity) + " " + uids.String()
}

// CodeCopyUID is COPYUID (RFC 4315).
func CodeCopyUID(validity uint32, src, dst SeqSet) string {
	return "COPYUID " + u32(validity) + " " + src.String() + " " + dst.String()
}

// CodeUIDValidity is UIDVALIDITY n.
func CodeUIDValidity(n uint32) string { return "UIDVALIDITY " + u32(n) }

// CodeUIDNext is UIDNEXT n.
func CodeUIDNext(n uint32) string { return "UIDNEXT " + u32(n) }

// CodeUnseen is UNSEEN n (IMAP4rev1).
func CodeUnseen(n uint32) string { return "UNSEEN " + u32(n) }

// CodeHighestModSeq is HIGHESTMODSEQ n (RFC 7162).
func CodeHighestModSeq(n uint64) string { return "HIGHESTMODSEQ " + strconv.FormatUint(n, 10) }

// CodeModified is MODIFIED set (RFC 7162 3.1.3).
func CodeModified(set SeqSet) string { return "MODIFIED " + set.String() }

// CodePermanentFlags is PERMANENTFLAGS (flags).
func CodePermanentFlags(flags []string) string { return "PERMANENTFLAGS " + flagList(flags) }

// CodeCapability is CAPABILITY caps.
func CodeCapability(caps []string) string {
	b := []byte("CAPABILITY")
	for _, c := range caps {
		b = append(append(b, ' '), c...)
	}
	return string(b)
}

// CodeBadCharset is BADCHARSET (charsets).
func CodeBadCharset(charsets []string) string { return "BADCHARSET " + flagList(charsets) }

func flagList(flags []string) string {
	b := []byte{'('}
	for i, f := range flags {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, f...)
	}
	return string(append(b, ')'))
}

func u32(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// Status writes a status response: tag ("*" for untagged) kind
// ("OK", "NO", "BAD", "BYE", "PREAUTH") [code] text.
func (e *Encoder) Status(tag, kind, code, text string) error {
	e.Raw(tag).SP().Raw(kind)
	if code != "" {
		e.Raw(" [").Raw(code).byte(']')
	}
	if text == "" {
		text = "done" // resp-text needs a text (RFC 9051 9)
	}
	e.SP().Raw(sanitizeText(text))
	return e.CRLF()
}

// sanitizeText keeps CR and LF out of a resp-text.
func sanitizeText(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' || s[i] == 0 {
			b := []byte(s)
			for j := range b {
				if b[j] == '\r' || b[j] == '\n' || b[j] == 0 {
					b[j] = ' '
				}
			}
			return string(b)
		}
	}
	return s
}

// Continuation writes "+ text".
func (e *Encoder) Continuation(text string) error {
	e.Raw("+ ").Raw(sanitizeText(text))
	return e.CRLF()
}

// Untagged starts an untagged response ("* ").
func (e *Encoder) Untagged() *Encoder { return e.Raw("* ") }

// numbered writes "* n WORD".
func (e *Encoder) numbered(n uint32, word string) error {
	e.Raw("* ").Number(n).SP().Raw(word)
	return e.CRLF()
}

// Exists writes "* n EXISTS".
func (e *Encoder) Exists(n uint32) error { return e.numbered(n, "EXISTS") }

// Recent writes "* n RECENT" (IMAP4rev1 only).
func (e *Encoder) Recent(n uint32) error { return e.numbered(n, "RECENT") }

// Expunge writes "* n EXPUNGE".
func (e *Encoder) Expunge(n uint32) error { return e.numbered(n, "EXPUNGE") }

// Vanished writes "* VANISHED [(EARLIER)] uids" (RFC 7162 3.2.10).
func (e *Encoder) Vanished(uids SeqSet, earlier bool) error {
	e.Raw("* VANISHED ")
	if earlier {
		e.Raw("(EARLIER) ")
	}
	e.SeqSet(uids)
	return e.CRLF()
}

// Capability writes "* CAPABILITY ...".
func (e *Encoder) Capability(caps []string) error {
	e.Raw("* CAPABILITY")
	for _, c := range caps {
		e.SP().Raw(c)
	}
	return e.CRLF()
}

// Enabled writes "* ENABLED ..." (RFC 5161).
func (e *Encoder) Enabled(caps []string) error {
	e.Raw("* ENABLED")
	for _, c := range caps {
		e.SP().Raw(c)
	}
	return e.CRLF()
}

// FlagsResponse writes "* FLAGS (...)".
func (e *Encoder) FlagsResponse(flags []string) error {
	e.Raw("* FLAGS ").Flags(flags)
	return e.CRLF()
}

// Search writes "* SEARCH n..." with "(MODSEQ m)" when modseq > 0.
func (e *Encoder) Search(nums []uint32, modseq uint64) error {
	e.Raw("* SEARCH")
	for _, n := range nums {
		e.SP().Number(n)
	}
	if modseq > 0 {
		e.Raw(" (MODSEQ ").Number64(modseq).byte(')')
	}
	return e.CRLF()
}

// ESearchResult is an ESEARCH response (RFC 4731, RFC 9051 7.3.4).
// Only the items with their Has* set (or All non-empty) are written.
type ESearchResult struct {
	Tag            string // the command's tag; "" for none
	UID            bool
	Min, Max       uint32
	HasMin, HasMax bool
	Count          uint32
	HasCount       bool
	All            SeqSet
	ModSeq         uint64 // written when > 0 (RFC 7162 3.1.5)
}

// ESearch writes "* ESEARCH (TAG "t") [UID] ...".
func (e *Encoder) ESearch(r ESearchResult) error {
	e.Raw("* ESEARCH")
	if r.Tag != "" {
		e.Raw(" (TAG ").String(r.Tag).byte(')')
	}
	if r.UID {
		e.Raw(" UID")
	}
	if r.HasMin {
		e.Raw(" MIN ").Number(r.Min)
	}
	if r.HasMax {
		e.Raw(" MAX ").Number(r.Max)
	}
	if len(r.All.Ranges) > 0 {
		e.Raw(" ALL ").SeqSet(r.All)
	}
	if r.HasCount {
		e.Raw(" COUNT ").Number(r.Count)
	}
	if r.ModSeq > 0 {
		e.Raw(" MODSEQ ").Number64(r.ModSeq)
	}
	return e.CRLF()
}

// ListItem is one LIST or LSUB answer line (RFC 9051 7.3.1, RFC 5258).
type ListItem struct {
	LSUB  bool
	Attrs []string
	Delim byte // 0 for NIL
	Name  string
	// ChildInfo is CHILDINFO's values (e.g. "SUBSCRIBED"); OldName is
	// OLDNAME (RFC 9051 after a RENAME). Written as extended data.
	ChildInfo []string
	OldName   string
}

// List writes "* LIST (attrs) delim name [ext]".
func (e *Encoder) List(it ListItem) error {
	if it.LSUB {
		e.Raw("* LSUB ")
	} else {
		e.Raw("* LIST ")
	}
	e.Flags(it.Attrs).SP()
	if it.Delim == 0 {
		e.NIL()
	} else {
		e.quoted(string(it.Delim))
	}
	e.SP().Mailbox(it.Name)
	if len(it.ChildInfo) > 0 || it.OldName != "" {
		e.Raw(" (")
		sep := ""
		if len(it.ChildInfo) > 0 {
			e.Raw(`"CHILDINFO" (`)
			for i, c := range it.ChildInfo {
				if i > 0 {
					e.SP()
				}
				e.quoted(c)
			}
			e.byte(')')
			sep = " "
		}
		if it.OldName != "" {
			e.Raw(sep).Raw(`"OLDNAME" (`).Mailbox(it.OldName).byte(')')
		}
		e.byte(')')
	}
	return e.CRLF()
}

// StatusItem is one STATUS attribute and its value.
type StatusItem struct {
	Name  string
	Value uint64
}

// MailboxStatus writes "* STATUS name (ITEM n ...)".
func (e *Encoder) MailboxStatus(name string, items []StatusItem) error {
	e.Raw("* STATUS ").Mailbox(name).Raw(" (")
	for i, it := range items {
		if i > 0 {
			e.SP()
		}
		e.Raw(it.Name).SP().Number64(it.Value)
	}
	e.byte(')')
	return e.CRLF()
}

// ID writes "* ID (...)" or "* ID NIL" for no fields.
func (e *Encoder) ID(fields []IDField) error {
	e.Raw("* ID ")
	if len(fields) == 0 {
		e.NIL()
		return e.CRLF()
	}
	e.Open()
	for i, f := range fields {
		if i > 0 {
			e.SP()
		}
		e.String(f.Name).SP()
		if f.Nil {
			e.NIL()
		} else {
			e.String(f.Value)
		}
	}
	e.Close()
	return e.CRLF()
}

// QuotaResource is one resource of a QUOTA response (RFC 9208).
type QuotaResource struct {
	Name         string
	Usage, Limit uint64
}

// Quota writes "* QUOTA root (NAME usage limit ...)".
func (e *Encoder) Quota(root string, res []QuotaResource) error {
	e.Raw("* QUOTA ").AString(root).Raw(" (")
	for i, r := range res {
		if i > 0 {
			e.SP()
		}
		e.Raw(r.Name).SP().Number64(r.Usage).SP().Number64(r.Limit)
	}
	e.byte(')')
	return e.CRLF()
}

// QuotaRoot writes "* QUOTAROOT mailbox root...".
func (e *Encoder) QuotaRoot(mailbox string, roots []string) error {
	e.Raw("* QUOTAROOT ").Mailbox(mailbox)
	for _, r := range roots {
		e.SP().AString(r)
	}
	return e.CRLF()
}

// FetchStart begins "* n FETCH (".
func (e *Encoder) FetchStart(n uint32) *Encoder {
	e.first = true
	return e.Raw("* ").Number(n).Raw(" FETCH (")
}

// item writes the separator and an item name followed by a space.
func (e *Encoder) item(name string) *Encoder {
	if !e.first {
		e.byte(' ')
	}
	e.first = false
	return e.Raw(name).byte(' ')
}

// FetchEnd ends the FETCH response.
func (e *Encoder) FetchEnd() error {
	e.byte(')')
	return e.CRLF()
}

// FetchUID writes UID n.
func (e *Encoder) FetchUID(uid uint32) *Encoder { return e.item("UID").Number(uid) }

// FetchFlags writes FLAGS (...).
func (e *Encoder) FetchFlags(flags []string) *Encoder { return e.item("FLAGS").Flags(flags) }

// FetchModSeq writes MODSEQ (n).
func (e *Encoder) FetchModSeq(n uint64) *Encoder {
	return e.item("MODSEQ").byte('(').Number64(n).byte(')')
}

// FetchInternalDate writes INTERNALDATE "date-time".
func (e *Encoder) FetchInternalDate(t time.Time) *Encoder {
	return e.item("INTERNALDATE").DateTime(t)
}

// FetchSize writes RFC822.SIZE n.
func (e *Encoder) FetchSize(n uint64) *Encoder { return e.item("RFC822.SIZE").Number64(n) }

// FetchEnvelope writes ENVELOPE (...).
func (e *Encoder) FetchEnvelope(env *Envelope) *Encoder {
	return e.item("ENVELOPE").Envelope(env)
}

// FetchBodyStructure writes BODYSTRUCTURE (extended) or BODY.
func (e *Encoder) FetchBodyStructure(p *BodyPart, extended bool) *Encoder {
	if extended {
		return e.item("BODYSTRUCTURE").BodyStructure(p, true)
	}
	return e.item("BODY").BodyStructure(p, false)
}

// FetchSection writes name (as FetchItem.ResponseName gives it, or
// RFC822, RFC822.HEADER, RFC822.TEXT) and a literal of size bytes
// streamed from r.
func (e *Encoder) FetchSection(name string, size int64, r io.Reader) *Encoder {
	return e.item(name).Literal(size, r)
}

// FetchNil writes name NIL (a section that does not exist).
func (e *Encoder) FetchNil(name string) *Encoder { return e.item(name).NIL() }

// FetchBinary writes a BINARY[...] item: a literal8 when binary8 (the
// decoded data holds a NUL), else a literal (RFC 3516 4.2).
func (e *Encoder) FetchBinary(name string, size int64, r io.Reader, binary8 bool) *Encoder {
	return e.item(name).literal(binary8, size, r)
}

// FetchBinarySize writes BINARY.SIZE[...] n.
func (e *Encoder) FetchBinarySize(name string, n uint64) *Encoder {
	return e.item(name).Number64(n)
}

// Namespace is one namespace of a NAMESPACE response: a prefix and its
// hierarchy delimiter (0 for NIL).
type Namespace struct {
	Prefix string
	Delim  byte
}

// NamespaceResponse writes "* NAMESPACE personal other shared"
// (RFC 9051 7.3.5); an empty group is NIL.
func (e *Encoder) NamespaceResponse(personal, other, shared []Namespace) error {
	e.Raw("* NAMESPACE")
	for _, group := range [][]Namespace{personal, other, shared} {
		e.SP()
		if len(group) == 0 {
			e.NIL()
			continue
		}
		e.Open()
		for _, ns := range group {
			e.Open().String(EncodeMailbox(ns.Prefix, e.UTF8)).SP()
			if ns.Delim == 0 {
				e.NIL()
			} else {
				e.quoted(string(ns.Delim))
			}
			e.Close()
		}
		e.Close()
	}
	return e.CRLF()
}

// Item starts a FETCH item of its own: the separator, name and a
// space; the value follows with the other methods (Raw, Number, ...).
func (e *Encoder) Item(name string) *Encoder { return e.item(name) }
