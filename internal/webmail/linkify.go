package webmail

import (
	"html"
	"regexp"
	"strings"
)

// linkRe finds the web addresses of a plain-text body.
var linkRe = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"'\x60]+`)

// textToHTML shows a plain-text body: every character escaped, then the
// http(s) addresses made links (opening in a new window, without opener
// or referrer), in a block that keeps the lines.
func textToHTML(text string) string {
	var b strings.Builder
	b.WriteString(`<div style="white-space: pre-wrap; word-wrap: break-word; font-family: monospace">`)
	last := 0
	for _, m := range linkRe.FindAllStringIndex(text, -1) {
		start, end := m[0], m[1]
		// Trailing punctuation ends a sentence, not the address.
		for end > start && strings.ContainsRune(".,;:!?)]}", rune(text[end-1])) {
			end--
		}
		b.WriteString(html.EscapeString(text[last:start]))
		u := text[start:end]
		b.WriteString(`<a href="` + html.EscapeString(u) + `" target="_blank" rel="noopener noreferrer">` + html.EscapeString(u) + `</a>`)
		last = end
	}
	b.WriteString(html.EscapeString(text[last:]))
	b.WriteString(`</div>`)
	return b.String()
}
