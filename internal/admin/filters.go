package admin

// Filters: simple "if a field contains a text then do one thing" rules
// of the webmail's settings page, kept as "# rule:[NAME]" blocks of the
// account's rule script beside the forwarding and vacation rules
// (rules.go), so ManageSieve clients and Roundcube see and edit the same
// script:
//
//	# rule:[Newsletters]
//	if header :contains ["list-id"] "news.example"
//	{
//		fileinto "Lists";
//	}
//
// Every value a person typed is quoted with sieveQuote and must be one
// line without control characters (a header's unfolded value never holds
// one, and a line break would let the text forge a "# rule:[" line); the
// script is compiled by CheckSieveScript before it is saved.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

// Filter fields: what a filter compares.
var filterFields = map[string][]string{
	"from":    {"from"},
	"to":      {"to", "cc"},
	"subject": {"subject"},
	"list-id": {"list-id"},
}

// Filter actions.
const (
	FilterMove    = "move"    // fileinto Arg (a mailbox of the account)
	FilterRead    = "read"    // addflag \Seen
	FilterForward = "forward" // redirect :copy Arg (an address), a copy stays
	FilterTrash   = "trash"   // fileinto the account's Trash
)

// maxFilterText bounds a filter's text, folder and address.
const maxFilterText = 500

// Filter is one rule of the settings page.
type Filter struct {
	Name     string
	Field    string // "from", "to" (To or Cc), "subject", "list-id"
	Contains string // compared case-insensitively (i;ascii-casemap)
	Action   string // FilterMove, FilterRead, FilterForward, FilterTrash
	Arg      string // the folder (move) or the address (forward)
}

// OtherRule is a rule of the script that is not a Filter (a forward, the
// vacation reply, one edited in a Sieve client).
type OtherRule struct {
	Name string
	Text string
}

// oneLine refuses what cannot be one quoted Sieve line of a rule.
func oneLine(what, v string) error {
	if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return inputErrorf("%s must be one line of text (no control characters)", what)
	}
	if len(v) > maxFilterText {
		return inputErrorf("%s is too long (at most %d bytes)", what, maxFilterText)
	}
	return nil
}

// filterBlock is the Sieve block of f and the extensions it needs; arg
// is the resolved folder or address.
func filterBlock(f Filter, arg string) (string, []string) {
	var hs []string
	for _, h := range filterFields[f.Field] {
		hs = append(hs, sieveQuote(h))
	}
	var action string
	var need []string
	switch f.Action {
	case FilterMove, FilterTrash:
		action, need = "fileinto "+sieveQuote(arg)+";", []string{"fileinto"}
	case FilterRead:
		action, need = `addflag "\\Seen";`, []string{"imap4flags"}
	case FilterForward:
		action, need = "redirect :copy "+sieveQuote(arg)+";", []string{"copy"}
	}
	return fmt.Sprintf("# rule:[%s]\nif header :contains [%s] %s\n{\n\t%s\n}\n",
		f.Name, strings.Join(hs, ", "), sieveQuote(f.Contains), action), need
}

// filterPattern reads back a block filterBlock writes.
var filterPattern = regexp.MustCompile(`^# rule:\[([^\]\n]*)\]\nif header :contains \[([^\]\n]*)\] ("(?:[^"\\\n]|\\.)*")\n\{\n\t(fileinto|addflag|redirect :copy) ("(?:[^"\\\n]|\\.)*");\n\}\n?$`)

// parseFilter reads a filter block; ok is false for any other rule.
func parseFilter(block string, trash string) (Filter, bool) {
	m := filterPattern.FindStringSubmatch(block)
	if m == nil {
		return Filter{}, false
	}
	f := Filter{Name: m[1], Contains: sieveUnquote(m[3])}
	for k, hs := range filterFields {
		var q []string
		for _, h := range hs {
			q = append(q, sieveQuote(h))
		}
		if strings.Join(q, ", ") == m[2] {
			f.Field = k
		}
	}
	arg := sieveUnquote(m[5])
	switch {
	case f.Field == "":
		return Filter{}, false
	case m[4] == "addflag" && arg == `\Seen`:
		f.Action = FilterRead
	case m[4] == "redirect :copy":
		f.Action, f.Arg = FilterForward, arg
	case m[4] == "fileinto" && trash != "" && arg == trash:
		f.Action = FilterTrash
	case m[4] == "fileinto":
		f.Action, f.Arg = FilterMove, arg
	default:
		return Filter{}, false
	}
	return f, true
}

// trashOf returns the name of the account's Trash mailbox ("" if none).
func (s *Service) trashOf(ctx context.Context, accountID int64) (string, []store.Mailbox, error) {
	mbs, err := s.st.Mailboxes(ctx, accountID)
	if err != nil {
		return "", nil, err
	}
	for _, mb := range mbs {
		if mb.SpecialUse == `\Trash` {
			return mb.Name, mbs, nil
		}
	}
	return "", mbs, nil
}

// Filters returns the account's filters and, apart, its other rules.
func (s *Service) Filters(ctx context.Context, email string) ([]Filter, []OtherRule, error) {
	acc, sc, err := s.ruleScript(ctx, email)
	if err != nil {
		return nil, nil, err
	}
	trash, _, err := s.trashOf(ctx, acc.ID)
	if err != nil {
		return nil, nil, err
	}
	_, rules := splitSieveRules(sc.Content)
	fs, others := []Filter{}, []OtherRule{}
	for _, r := range rules {
		if f, ok := parseFilter(r.Text, trash); ok {
			fs = append(fs, f)
		} else {
			others = append(others, OtherRule{Name: r.Name, Text: r.Text})
		}
	}
	return fs, others, nil
}

// checkFilter refuses a filter that cannot be written and returns the
// folder or address its action names.
func (s *Service) checkFilter(ctx context.Context, acc store.Account, f Filter) (string, error) {
	if err := CheckRuleName(f.Name); err != nil {
		return "", err
	}
	if _, ok := filterFields[f.Field]; !ok {
		return "", inputErrorf("unknown field %q (want from, to, subject or list-id)", f.Field)
	}
	for what, v := range map[string]string{"the rule's name": f.Name, "the text": f.Contains, "the folder or address": f.Arg} {
		if err := oneLine(what, v); err != nil {
			return "", err
		}
	}
	if strings.TrimSpace(f.Contains) == "" {
		return "", inputErrorf("the text to look for is empty")
	}
	trash, mbs, err := s.trashOf(ctx, acc.ID)
	if err != nil {
		return "", err
	}
	switch f.Action {
	case FilterRead:
		return "", nil
	case FilterTrash:
		if trash == "" {
			return "", inputErrorf("%s has no Trash folder", acc.Email)
		}
		return trash, nil
	case FilterMove:
		if !slices.ContainsFunc(mbs, func(mb store.Mailbox) bool { return mb.Name == f.Arg }) {
			return "", inputErrorf("there is no folder named %q", f.Arg)
		}
		return f.Arg, nil
	case FilterForward:
		a, err := delivery.ParseAddress(strings.TrimSpace(f.Arg))
		if err != nil {
			return "", inputErrorf("forward to: %s", err)
		}
		if strings.EqualFold(a.String(), acc.Email) {
			return "", inputErrorf("the address to forward to is the account itself")
		}
		return a.String(), nil
	}
	return "", inputErrorf("unknown action %q (want move, read, forward or trash)", f.Action)
}

// AddFilter adds a filter at the end of the account's rules; it returns
// the script's name.
func (s *Service) AddFilter(ctx context.Context, email string, f Filter) (string, error) {
	acc, sc, err := s.ruleScript(ctx, email)
	if err != nil {
		return "", err
	}
	f.Name = strings.TrimSpace(f.Name)
	arg, err := s.checkFilter(ctx, acc, f)
	if err != nil {
		return "", err
	}
	head, rules := splitSieveRules(sc.Content)
	if slices.ContainsFunc(rules, func(r sieveRule) bool { return r.Name == f.Name }) {
		return "", inputErrorf("%s already has a rule named %q (remove it first)", acc.Email, f.Name)
	}
	block, need := filterBlock(f, arg)
	rules = append(rules, sieveRule{Name: f.Name, Text: block})
	return sc.Name, s.saveRuleScript(ctx, acc, sc.Name, withRequires(joinSieveRules(head, rules), need...))
}

// RemoveRule removes the account's rule named name (a filter, a forward
// or the vacation reply).
func (s *Service) RemoveRule(ctx context.Context, email, name string) error {
	acc, sc, err := s.ruleScript(ctx, email)
	if err != nil {
		return err
	}
	head, rules := splitSieveRules(sc.Content)
	n := len(rules)
	rules = slices.DeleteFunc(rules, func(r sieveRule) bool { return r.Name == name })
	if len(rules) == n {
		return fmt.Errorf("%s has no rule named %s: %w", acc.Email, sieveQuote(name), store.ErrNotFound)
	}
	return s.saveRuleScript(ctx, acc, sc.Name, joinSieveRules(head, rules))
}

// IsInputError reports whether err is a request a person must correct,
// and its message for them.
func IsInputError(err error) (string, bool) {
	var ie *InputError
	if errors.As(err, &ie) {
		return ie.Msg, true
	}
	return "", false
}
