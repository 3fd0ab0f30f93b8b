package spam

import (
	"html"
	"strings"
)

// maxNesting bounds the element stack kept for hidden-text tracking.
const maxNesting = 256

// voidElements have no end tag.
var voidElements = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true,
	"img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

// html tokenizes an HTML part: the text a reader sees, the domains of its
// links and images, and the words a reader cannot see (hidden by style:
// display:none, visibility:hidden, a zero font size) with the prefix
// "hid:", so text hidden to poison the filter teaches nothing as ham.
func (t *tokenizer) html(s string) {
	t.add("h:html")
	var stack []bool // per open element: hidden
	hidden := func() bool { return len(stack) > 0 && stack[len(stack)-1] }
	var text strings.Builder
	flush := func() {
		if text.Len() == 0 {
			return
		}
		prefix := ""
		if hidden() {
			prefix = "hid:"
			t.add("h:hidden-text")
		}
		t.words(html.UnescapeString(text.String()), prefix)
		text.Reset()
	}
	skip := "" // inside <script> or <style>: skip to its end tag
	for len(s) > 0 {
		lt := strings.IndexByte(s, '<')
		if lt < 0 {
			if skip == "" {
				text.WriteString(s)
			}
			break
		}
		if skip == "" {
			text.WriteString(s[:lt])
		}
		s = s[lt:]
		if strings.HasPrefix(s, "<!--") {
			end := strings.Index(s, "-->")
			if end < 0 {
				break
			}
			s = s[end+3:]
			continue
		}
		gt := strings.IndexByte(s, '>')
		if gt < 0 {
			break
		}
		tag := s[1:gt]
		s = s[gt+1:]
		name, attrs := tagName(tag)
		if skip != "" {
			if name == "/"+skip {
				skip = ""
			}
			continue
		}
		flush()
		switch {
		case name == "script" || name == "style":
			skip = name
		case strings.HasPrefix(name, "/"):
			if len(stack) > 0 && !voidElements[name[1:]] {
				stack = stack[:len(stack)-1]
			}
		default:
			t.tagAttrs(name, attrs)
			if !voidElements[name] && !strings.HasSuffix(tag, "/") && len(stack) < maxNesting {
				stack = append(stack, hidden() || hiddenStyle(attrs))
			}
		}
	}
	flush()
}

// tagName splits a tag's inside into its lower-case name and the rest.
func tagName(tag string) (string, string) {
	tag = strings.TrimSpace(tag)
	i := strings.IndexAny(tag, " \t\r\n/")
	if i == 0 && strings.HasPrefix(tag, "/") {
		j := strings.IndexAny(tag[1:], " \t\r\n")
		if j < 0 {
			return strings.ToLower(tag), ""
		}
		return strings.ToLower(tag[:j+1]), tag[j+1:]
	}
	if i < 0 {
		return strings.ToLower(tag), ""
	}
	return strings.ToLower(tag[:i]), tag[i:]
}

// tagAttrs adds the link domains (href, src) and a few facts of a tag.
func (t *tokenizer) tagAttrs(name, attrs string) {
	la := strings.ToLower(attrs)
	for _, a := range []string{"href=", "src="} {
		i := strings.Index(la, a)
		if i < 0 {
			continue
		}
		v := strings.TrimLeft(attrs[i+len(a):], "\"' ")
		if hasPrefixFold(v, "http://") || hasPrefixFold(v, "https://") {
			t.url(html.UnescapeString(v))
		}
	}
	switch name {
	case "img":
		t.add("h:html-img")
		t.shape.imgs++
	case "form", "input":
		t.add("h:html-form")
	case "a":
		t.add("h:html-link")
	}
}

// hiddenStyle reports whether an element's attributes hide it.
func hiddenStyle(attrs string) bool {
	la := strings.ToLower(attrs)
	if strings.Contains(la, " hidden") && !strings.Contains(la, "=\"hidden") {
		return true // the hidden attribute
	}
	i := strings.Index(la, "style=")
	if i < 0 {
		return false
	}
	st := strings.ReplaceAll(la[i:], " ", "")
	return strings.Contains(st, "display:none") || strings.Contains(st, "visibility:hidden") ||
		zeroValue(st, "font-size:") || strings.Contains(st, "font-size:1px") || zeroValue(st, "opacity:") || zeroValue(st, "max-height:")
}

// zeroValue reports whether the style property prop is set to zero (0,
// 0px, 0em...) in st, not to 0.9 or 05.
func zeroValue(st, prop string) bool {
	for {
		i := strings.Index(st, prop+"0")
		if i < 0 {
			return false
		}
		st = st[i+len(prop)+1:]
		if st == "" || st[0] != '.' && (st[0] < '0' || st[0] > '9') {
			return true
		}
	}
}
