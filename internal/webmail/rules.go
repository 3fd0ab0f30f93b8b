package webmail

// "Always do this" (issue 19): after a message is moved into a folder,
// the list offers to file future mail of the same mailing list
// (List-Id) or sender there. The rule goes into the account's active
// Sieve script (else the script "roundcube", which it then activates),
// written the way the admin package and Roundcube's managesieve plugin
// write rules, so the account's filter page, Roundcube and any
// ManageSieve client show the same rule:
//
//	# rule:[Move mail of list news.example.org to News]
//	if header :contains "list-id" "news.example.org"
//	{
//		fileinto "News";
//	}
//
// Every string is a Sieve quoted string with \ and " escaped; values with
// control characters (CR, LF, NUL...) get no offer; the whole script is
// parsed and validated by internal/sieve before it is stored.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"boxmail/internal/mailmsg"
	"boxmail/internal/sieve"
	"boxmail/internal/store"
)

// ruleScriptName is where rules go when no script is active (the admin
// package's DefaultRuleScript, Roundcube's default).
const ruleScriptName = "roundcube"

// maxRuleValue caps a List-Id or address put in a rule.
const maxRuleValue = 255

// ruleOffer is the "always do this" offer after a move.
type ruleOffer struct {
	Kind   string `json:"kind"`  // "list" or "sender"
	Value  string `json:"value"` // the list's id or the sender's address
	Folder string `json:"folder"`
	Box    int64  `json:"box"` // the message the offer was made from
	UID    uint32 `json:"uid"`
	Text   string `json:"text"` // the question shown
}

var errBadRuleValue = errors.New("a rule cannot hold this value")

// checkRuleString refuses what a one-line rule should not hold.
func checkRuleString(v string) error {
	if v == "" || len(v) > maxRuleValue || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) || r == 0xfffd }) {
		return errBadRuleValue
	}
	return nil
}

// sieveString is v as a Sieve quoted string (RFC 5228 2.4.2).
func sieveString(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// fileIntoRule returns the name and text of the rule filing mail of a
// list (kind "list", value its id) or a sender (kind "sender", value the
// address) into folder.
func fileIntoRule(kind, value, folder string) (name, text string, err error) {
	if err := checkRuleString(value); err != nil {
		return "", "", err
	}
	if err := checkRuleString(folder); err != nil {
		return "", "", err
	}
	var test string
	switch kind {
	case "list":
		name = "Move mail of list " + value + " to " + folder
		test = `header :contains "list-id" ` + sieveString(value)
	case "sender":
		name = "Move mail from " + value + " to " + folder
		test = `address :is "from" ` + sieveString(value)
	default:
		return "", "", errBadRuleValue
	}
	// The marker line ends at "]": brackets in a name become parentheses.
	name = strings.NewReplacer("[", "(", "]", ")").Replace(name)
	text = "# rule:[" + name + "]\nif " + test + "\n{\n\tfileinto " + sieveString(folder) + ";\n}\n"
	return name, text, nil
}

// listID is the id of a List-Id field's value (RFC 2919: the part in <>).
func listID(v string) string {
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 1 {
			return strings.TrimSpace(v[i+1 : i+j])
		}
	}
	return strings.TrimSpace(v)
}

// offerFor is the offer after the message box/uid was moved there; nil
// when there is none to make (INBOX, Trash or Junk, no List-Id or From,
// a value no rule should hold, or the rule exists already).
func (s *Server) offerFor(ctx context.Context, sess Session, box int64, uid uint32) *ruleOffer {
	mb, err := s.o.Store.MailboxByID(ctx, sess.AccountID, box)
	if err != nil || mb.Name == "INBOX" || mb.SpecialUse == `\Trash` || mb.SpecialUse == `\Junk` {
		return nil
	}
	msgs, err := s.o.Store.LoadMessages(ctx, mb.ID, []uint32{uid}, store.BodyHeader)
	if err != nil || len(msgs) != 1 {
		return nil
	}
	hdr := msgs[0].Data[:mailmsg.HeaderEnd(msgs[0].Data)]
	o := &ruleOffer{Folder: mb.Name, Box: mb.ID, UID: uid}
	if f, ok := mailmsg.Lookup(hdr, "List-Id"); ok {
		o.Kind, o.Value = "list", listID(fieldText(f.Value))
		o.Text = "Always move mail of the list " + o.Value + " to " + mb.Name + "?"
	} else if e := parseEnvelope(hdr); e.FromAddr != "" {
		o.Kind, o.Value = "sender", strings.ToLower(e.FromAddr)
		o.Text = "Always move mail from " + o.Value + " to " + mb.Name + "?"
	} else {
		return nil
	}
	name, _, err := fileIntoRule(o.Kind, o.Value, o.Folder)
	if err != nil {
		return nil
	}
	if sc, err := s.ruleScript(ctx, sess.AccountID); err != nil || hasRule(sc.Content, name) {
		return nil
	}
	return o
}

// ruleScript is the account's active script, else ruleScriptName (empty
// when the account has neither).
func (s *Server) ruleScript(ctx context.Context, accountID int64) (store.SieveScript, error) {
	sc, err := s.o.Store.ActiveSieveScript(ctx, accountID)
	if errors.Is(err, store.ErrNotFound) {
		sc, err = s.o.Store.SieveScriptByName(ctx, accountID, ruleScriptName)
		if errors.Is(err, store.ErrNotFound) {
			return store.SieveScript{Name: ruleScriptName}, nil
		}
	}
	return sc, err
}

// hasRule tells whether a script has a rule of that name.
func hasRule(src, name string) bool {
	for l := range strings.Lines(src) {
		if strings.TrimSpace(l) == "# rule:["+name+"]" {
			return true
		}
	}
	return false
}

// withRule returns src with the rule appended and "fileinto" required;
// the result is parsed and validated.
func withRule(src, rule string) (string, error) {
	out := src
	if out != "" && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	out += rule
	have := false
	if sc, err := sieve.Parse(src); err == nil {
		for _, e := range sc.Extensions() {
			have = have || e == "fileinto"
		}
	}
	if !have {
		out = "require [\"fileinto\"];\n" + out
	}
	sc, err := sieve.Parse(out)
	if err == nil {
		err = sc.Validate()
	}
	if err != nil {
		return "", fmt.Errorf("the filter script with the new rule is refused: %w", err)
	}
	return out, nil
}

// addRule is POST /mail/rule: box, uid (the moved message) and kind
// (list or sender) as offered; the value and folder are read again from
// the message, never taken from the form.
func (s *Server) addRule(w http.ResponseWriter, r *http.Request, sess Session) {
	box, err := strconv.ParseInt(r.PostFormValue("box"), 10, 64)
	uid, uerr := strconv.ParseUint(r.PostFormValue("uid"), 10, 32)
	if err != nil || uerr != nil {
		http.Error(w, "No message named.", http.StatusBadRequest)
		return
	}
	back := localNext(r.PostFormValue("next"), "/mail/")
	note := "rule-added"
	o := s.offerFor(r.Context(), sess, box, uint32(uid))
	if o == nil || o.Kind != r.PostFormValue("kind") {
		note = "rule-exists"
	} else if err := s.saveRule(r.Context(), sess, o); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	if r.Header.Get("X-Requested-With") == "fetch" {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(actResult{Note: orgNotes[note]}); err != nil {
			s.log.Debug("webmail rule answer", "err", err)
		}
		return
	}
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	http.Redirect(w, r, back+sep+"note="+note, http.StatusSeeOther)
}

// saveRule appends the offer's rule to the rule script and activates it.
func (s *Server) saveRule(ctx context.Context, sess Session, o *ruleOffer) error {
	_, rule, err := fileIntoRule(o.Kind, o.Value, o.Folder)
	if err != nil {
		return err
	}
	sc, err := s.ruleScript(ctx, sess.AccountID)
	if err != nil {
		return err
	}
	src, err := withRule(sc.Content, rule)
	if err != nil {
		return err
	}
	if err := s.o.Store.PutSieveScript(ctx, sess.AccountID, sc.Name, src); err != nil {
		return err
	}
	if err := s.o.Store.SetActiveSieveScript(ctx, sess.AccountID, sc.Name); err != nil {
		return err
	}
	s.log.Info("webmail filter rule added", "user", sess.Email, "kind", o.Kind, "folder", o.Folder)
	return nil
}
