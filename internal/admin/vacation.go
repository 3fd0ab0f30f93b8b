package admin

// The vacation reply: a "# rule:[Vacation]" block of the account's rule
// script (rules.go), replaced on every change.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
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

// check refuses a subject of more than one line and dates that are not
// YYYY-MM-DD.
func (v Vacation) check() error {
	if strings.ContainsFunc(v.Subject, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return inputErrorf("the subject must be one line of text (no control characters)")
	}
	for _, d := range []string{v.From, v.Until} {
		if _, err := time.Parse("2006-01-02", d); d != "" && err != nil {
			return inputErrorf("date %q: want YYYY-MM-DD", d)
		}
	}
	if v.Days <= 0 {
		return inputErrorf("days must be at least 1")
	}
	return nil
}

// SetVacation sets the account's vacation reply, replacing any; it
// returns the account's address.
func (s *Service) SetVacation(ctx context.Context, email string, v Vacation) (string, error) {
	if err := v.check(); err != nil {
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
