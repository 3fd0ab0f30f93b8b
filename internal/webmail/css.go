package webmail

// The CSS filter of message bodies: style attributes and <style> sheets
// keep only declarations of keptProperties whose values call no function
// but colours and calc(); sheets keep plain rules and @media blocks.
// Anything with a backslash (CSS escapes can spell url( or expression(
// in other ways) or a '<' is dropped whole. So position (fixed overlays),
// url() (remote fetches, data: documents), expression(), behavior and
// -moz-binding never pass.

import (
	"strings"
)

var keptProperties = map[string]bool{}

func init() {
	for _, p := range strings.Fields(`color background-color background font font-family font-size font-style font-weight
		font-variant text-align text-decoration text-indent text-transform line-height letter-spacing word-spacing
		white-space word-break word-wrap overflow-wrap vertical-align direction margin margin-top margin-right
		margin-bottom margin-left padding padding-top padding-right padding-bottom padding-left border border-top
		border-right border-bottom border-left border-color border-style border-width border-radius border-collapse
		border-spacing border-top-color border-right-color border-bottom-color border-left-color border-top-style
		border-right-style border-bottom-style border-left-style border-top-width border-right-width border-bottom-width
		border-left-width width height max-width min-width max-height min-height display list-style list-style-type
		list-style-position table-layout float clear visibility overflow box-sizing empty-cells caption-side
		text-shadow`) {
		keptProperties[p] = true
	}
}

// keptFunctions are the CSS functions a value may call.
var keptFunctions = map[string]bool{"rgb": true, "rgba": true, "hsl": true, "hsla": true, "calc": true}

// maxCSS caps a style attribute or sheet.
const maxCSS = 64 << 10

// stripComments removes /* */ comments (an unterminated one runs to the
// end, as in a browser).
func stripComments(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "/*")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteByte(' ')
		j := strings.Index(s[i+2:], "*/")
		if j < 0 {
			return b.String()
		}
		s = s[i+2+j+2:]
	}
}

// unsafeCSS reports text the filter refuses whole.
func unsafeCSS(s string) bool {
	return len(s) > maxCSS || strings.ContainsAny(s, "\\<\x00")
}

// filterDeclarations keeps the safe declarations of a declaration list
// (a style attribute, or a rule's body), "" when none.
func filterDeclarations(s string) string {
	s = stripComments(s)
	if unsafeCSS(s) {
		return ""
	}
	var kept []string
	for d := range strings.SplitSeq(s, ";") {
		name, value, ok := strings.Cut(d, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if !keptProperties[name] || !safeValue(value) {
			continue
		}
		kept = append(kept, name+": "+value)
	}
	return strings.Join(kept, "; ")
}

// safeValue reports whether a declaration's value is plain: no
// functions other than keptFunctions, no at-keywords, no braces.
func safeValue(v string) bool {
	if v == "" || strings.ContainsAny(v, "{}@;") {
		return false
	}
	lv := strings.ToLower(v)
	for i := 0; i < len(lv); i++ {
		if lv[i] != '(' {
			continue
		}
		j := i
		for j > 0 && (isIdent(lv[j-1])) {
			j--
		}
		if j < i && !keptFunctions[lv[j:i]] { // "(" alone only groups
			return false
		}
	}
	return true
}

func isIdent(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c >= 0x80
}

// filterStyleSheet keeps the rules of a sheet whose selectors are plain,
// each with its safe declarations, and @media blocks filtered the same
// way; other at-rules (@import, @font-face, ...) go.
func filterStyleSheet(s string) string {
	s = stripComments(s)
	if unsafeCSS(s) {
		return ""
	}
	out, _ := filterRules(s, 0)
	return strings.TrimSpace(out)
}

// filterRules filters rules until an unmatched '}' or the end, and
// returns the kept text and the unread rest (after that '}').
func filterRules(s string, depth int) (string, string) {
	var b strings.Builder
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return b.String(), ""
		}
		if s[0] == '}' {
			return b.String(), s[1:]
		}
		open := strings.IndexAny(s, "{;}")
		if open < 0 {
			return b.String(), ""
		}
		prelude := strings.TrimSpace(s[:open])
		if s[open] != '{' { // an at-rule without a block (@import ...;) or junk
			s = s[open+1:]
			continue
		}
		if strings.HasPrefix(prelude, "@") {
			inner, rest := filterRules(s[open+1:], depth+1)
			if strings.HasPrefix(strings.ToLower(prelude), "@media") && depth < 2 && inner != "" && safeValue(strings.TrimPrefix(prelude, "@")) {
				b.WriteString(prelude + " {\n" + inner + "}\n")
			}
			s = rest
			continue
		}
		end := strings.IndexByte(s[open+1:], '}')
		if end < 0 {
			return b.String(), ""
		}
		decls := filterDeclarations(s[open+1 : open+1+end])
		if decls != "" && prelude != "" && !strings.ContainsAny(prelude, "@{}") {
			b.WriteString(prelude + " { " + decls + " }\n")
		}
		s = s[open+1+end+1:]
	}
}
