package admin

// The vacation reply: a "# rule:[Vacation]" block of the account's rule
// script (rules.go), replaced on every change.

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// vacationRule is the name of the vacation rule in the script.
const vacationRule = "Vacation"

// Vacation is an out-of-office reply.
type Vacation struct {
	Subject string
	Body    string // the reply's text
	// From and Until are the first and last day of absence, YYYY-MM-DD;
	// empty: from now, until turned off.
	From, Until string
	Days        int // at most one reply per sender per this many days
}

// check refuses a subject of more than one line, dates that are not
// YYYY-MM-DD, an absence that ends before today (the reply would never be
// sent) or before it starts. today is YYYY-MM-DD in the box's time zone,
// the one Sieve's currentdate compares with.
func (v Vacation) check(today string) error {
	if strings.ContainsFunc(v.Subject, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return inputErrorf("the subject must be one line of text (no control characters)")
	}
	if strings.ContainsRune(v.Body, 0) || !utf8.ValidString(v.Body) || !utf8.ValidString(v.Subject) {
		return inputErrorf("the reply must be text (UTF-8, no NUL characters)")
	}
	for _, d := range []string{v.From, v.Until} {
		if _, err := time.Parse("2006-01-02", d); d != "" && err != nil {
			return inputErrorf("date %q: want YYYY-MM-DD", d)
		}
	}
	if v.Until != "" && v.Until < today {
		return inputErrorf("the absence ends on %s, which is past: the reply would never be sent", v.Until)
	}
	if v.From != "" && v.Until != "" && v.Until < v.From {
		return inputErrorf("the absence ends on %s, before it starts (%s)", v.Until, v.From)
	}
	if v.Days <= 0 {
		return inputErrorf("days must be at least 1")
	}
	return nil
}

// SetVacation sets the account's vacation reply, replacing any; it
// returns the account's address.
func (s *Service) SetVacation(ctx context.Context, email string, v Vacation) (string, error) {
	if err := v.check(s.o.Now().Format("2006-01-02")); err != nil {
		return "", err
	}
	acc, sc, err := s.ruleScript(ctx, email)
	if err != nil {
		return "", err
	}
	head, rules := splitSieveRules(sc.Content)
	rules = slices.DeleteFunc(rules, func(r sieveRule) bool { return r.Name == vacationRule })
	cond, need := vacationCondition(v)
	block := fmt.Sprintf("# rule:[%s]\nif %s\n{\n\tvacation :days %d :subject %s :addresses [%s] text:\n%s.\n;\n}\n",
		vacationRule, cond, v.Days, sieveQuote(v.Subject), sieveQuote(acc.Email), dotStuff(v.Body))
	rules = append(rules, sieveRule{Name: vacationRule, Text: block})
	return acc.Email, s.saveRuleScript(ctx, acc, sc.Name, withRequires(joinSieveRules(head, rules), need...))
}

// VacationOf returns the account's vacation reply as set by SetVacation;
// ok is false when it has none. A rule edited in a Sieve client so that
// it no longer reads as SetVacation writes it comes back with only
// Rule set (its Sieve text).
func (s *Service) VacationOf(ctx context.Context, email string) (v Vacation, rule string, ok bool, err error) {
	_, sc, err := s.ruleScript(ctx, email)
	if err != nil {
		return Vacation{}, "", false, err
	}
	_, rules := splitSieveRules(sc.Content)
	for _, r := range rules {
		if r.Name == vacationRule {
			v, _ := parseVacationRule(r.Text)
			return v, r.Text, true, nil
		}
	}
	return Vacation{}, "", false, nil
}

// vacationRulePattern reads back the block SetVacation writes.
var vacationRulePattern = regexp.MustCompile(`(?s)^# rule:\[Vacation\]\nif (.*?)\n\{\n\tvacation :days (\d+) :subject ("(?:[^"\\]|\\.)*") :addresses \[[^\]]*\] text:\n(.*?)\n\.\n;\n\}`)

// parseVacationRule reads a vacation block written by SetVacation.
func parseVacationRule(block string) (Vacation, bool) {
	m := vacationRulePattern.FindStringSubmatch(block)
	if m == nil {
		return Vacation{}, false
	}
	var v Vacation
	v.Days, _ = strconv.Atoi(m[2]) // \d+ of at most a few digits
	v.Subject = sieveUnquote(m[3])
	for _, l := range strings.Split(m[4]+"\n", "\n") {
		v.Body += strings.TrimPrefix(l, ".") + "\n"
		if !strings.HasPrefix(l, "..") && strings.HasPrefix(l, ".") {
			return Vacation{}, false // not a body SetVacation wrote
		}
	}
	v.Body = strings.TrimSuffix(v.Body, "\n")
	for _, d := range regexp.MustCompile(`"(ge|le)" "date" "(\d{4}-\d\d-\d\d)"`).FindAllStringSubmatch(m[1], -1) {
		if d[1] == "ge" {
			v.From = d[2]
		} else {
			v.Until = d[2]
		}
	}
	return v, true
}

// sieveUnquote undoes sieveQuote.
func sieveUnquote(q string) string {
	q = strings.TrimSuffix(strings.TrimPrefix(q, `"`), `"`)
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		if q[i] == '\\' && i+1 < len(q) {
			i++
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// RemoveVacation removes the account's vacation reply, if any; it
// returns the account's address.
func (s *Service) RemoveVacation(ctx context.Context, email string) (string, error) {
	acc, sc, err := s.ruleScript(ctx, email)
	if err != nil {
		return "", err
	}
	head, rules := splitSieveRules(sc.Content)
	rules = slices.DeleteFunc(rules, func(r sieveRule) bool { return r.Name == vacationRule })
	return acc.Email, s.saveRuleScript(ctx, acc, sc.Name, joinSieveRules(head, rules))
}

// vacationCondition is the rule's test (the absence's dates) and the
// extensions the rule needs.
func vacationCondition(v Vacation) (string, []string) {
	var conds []string
	if v.From != "" {
		conds = append(conds, `currentdate :value "ge" "date" `+sieveQuote(v.From))
	}
	if v.Until != "" {
		conds = append(conds, `currentdate :value "le" "date" `+sieveQuote(v.Until))
	}
	if len(conds) == 0 {
		return "true", []string{"vacation"}
	}
	return "allof (" + strings.Join(conds, ", ") + ")", []string{"vacation", "date", "relational"}
}

// dotStuff makes text the body of a Sieve multi-line string: LF line
// ends, a final newline, and a dot doubled at the start of a line.
func dotStuff(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	var b strings.Builder
	for _, l := range strings.SplitAfter(strings.TrimRight(text, "\n")+"\n", "\n") {
		if strings.HasPrefix(l, ".") {
			l = "." + l
		}
		b.WriteString(l)
	}
	return b.String()
}
