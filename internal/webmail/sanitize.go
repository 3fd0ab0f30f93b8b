package webmail

// The HTML sanitiser of message bodies: an allow-list walk over the tree
// x/net/html builds (the same parse a browser makes), serialised again by
// html.Render. What is not on a list is gone:
//
//   - elements: those of keptElements stay; those of droppedElements go
//     with everything inside them (script, style sheets we cannot filter,
//     frames, objects, forms' controls, base, meta, link, SVG and MathML:
//     any element outside the HTML namespace); any other is unwrapped
//     (its text and allowed children stay);
//   - attributes: only those of keptAttrs, so every event handler goes;
//     href only for http, https and mailto (links open in a new window
//     without opener or referrer); img src only for data: images of
//     raster types, unless an imagePolicy says otherwise: a cid: image
//     becomes the data: URI the policy gives (inline parts of the
//     message, capped), a remote (http, https) image becomes the image
//     proxy's path when the policy shows remote images, and is removed
//     (and counted) when it does not;
//   - style attributes and <style> elements go through the CSS filter
//     (css.go);
//   - comments, doctype and processing instructions go.
//
// The result is served only into the sandboxed iframe under BodyCSP,
// which would stop a script or a fetch the sanitiser missed.

import (
	"bytes"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxHTMLNodes caps the elements kept of one body; the rest is dropped.
const maxHTMLNodes = 50000

var keptElements = map[atom.Atom]bool{}

func init() {
	for _, a := range []atom.Atom{atom.A, atom.Abbr, atom.Address, atom.Article, atom.Aside, atom.B, atom.Bdi, atom.Bdo, atom.Big,
		atom.Blockquote, atom.Br, atom.Caption, atom.Center, atom.Cite, atom.Code, atom.Col, atom.Colgroup, atom.Dd, atom.Del,
		atom.Details, atom.Dfn, atom.Div, atom.Dl, atom.Dt, atom.Em, atom.Figcaption, atom.Figure, atom.Font, atom.Footer,
		atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Header, atom.Hr, atom.I, atom.Img, atom.Ins, atom.Kbd,
		atom.Li, atom.Main, atom.Mark, atom.Nav, atom.Ol, atom.P, atom.Pre, atom.Q, atom.Rp, atom.Rt, atom.Ruby, atom.S,
		atom.Samp, atom.Section, atom.Small, atom.Span, atom.Strike, atom.Strong, atom.Style, atom.Sub, atom.Summary, atom.Sup,
		atom.Table, atom.Tbody, atom.Td, atom.Tfoot, atom.Th, atom.Thead, atom.Time, atom.Tr, atom.Tt, atom.U, atom.Ul,
		atom.Var, atom.Wbr} {
		keptElements[a] = true
	}
}

// droppedElements go with their content.
var droppedElements = map[atom.Atom]bool{
	atom.Script: true, atom.Noscript: true, atom.Iframe: true, atom.Frame: true, atom.Frameset: true, atom.Noframes: true,
	atom.Object: true, atom.Embed: true, atom.Applet: true, atom.Param: true, atom.Base: true, atom.Meta: true, atom.Link: true,
	atom.Title: true, atom.Template: true, atom.Svg: true, atom.Math: true, atom.Input: true, atom.Button: true,
	atom.Select: true, atom.Option: true, atom.Optgroup: true, atom.Textarea: true, atom.Datalist: true, atom.Keygen: true,
	atom.Output: true, atom.Audio: true, atom.Video: true, atom.Source: true, atom.Track: true, atom.Canvas: true,
	atom.Xmp: true, atom.Plaintext: true, atom.Noembed: true, atom.Dialog: true, atom.Picture: true, atom.Map: true,
	atom.Area: true, atom.Slot: true,
}

// keptAttrs are the attributes kept on any kept element (href, src and
// style are checked further).
var keptAttrs = map[string]bool{
	"align": true, "alt": true, "bgcolor": true, "border": true, "cellpadding": true, "cellspacing": true, "class": true,
	"color": true, "colspan": true, "dir": true, "face": true, "height": true, "hspace": true, "lang": true, "nowrap": true,
	"rowspan": true, "size": true, "span": true, "start": true, "style": true, "summary": true, "title": true, "type": true,
	"valign": true, "vspace": true, "width": true, "href": true, "src": true, "datetime": true, "open": true,
	"reversed": true, "scope": true, "headers": true, "abbr": true, "cite": true,
}

// Sanitize returns a message's HTML body reduced to what is safe to show
// (see the file comment): the content of a <body>, without <html>,
// <head> or <body> tags.
func Sanitize(in string) string {
	return sanitizeWith(in, nil)
}

// imagePolicy says what becomes of img src values a plain Sanitize
// removes. Both functions may be nil.
type imagePolicy struct {
	// cid returns the data: URI of the inline part with this Content-ID
	// (without <>), or false.
	cid func(id string) (string, bool)
	// remote returns the URL an http(s) image is shown through (the
	// image proxy), or false when remote images are off.
	remote func(u string) (string, bool)
	// blocked counts the remote images removed.
	blocked int
}

// sanitizeWith is Sanitize with an image policy (nil: none).
func sanitizeWith(in string, pol *imagePolicy) string {
	doc, err := html.Parse(strings.NewReader(in))
	if err != nil {
		return ""
	}
	if pol == nil {
		pol = &imagePolicy{}
	}
	sz := &sanitizer{img: pol}
	var out bytes.Buffer
	for _, n := range sz.collect(doc) {
		if err := html.Render(&out, n); err != nil {
			return ""
		}
	}
	return out.String()
}

type sanitizer struct {
	nodes int
	img   *imagePolicy
}

// collect returns the kept, cleaned nodes of n's subtree, in order
// (unwrapped elements give their children).
func (sz *sanitizer) collect(n *html.Node) []*html.Node {
	var out []*html.Node
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		out = append(out, sz.clean(c)...)
	}
	return out
}

// clean returns what is kept of n: a new detached node, n's kept
// children (unwrapped), or nothing.
func (sz *sanitizer) clean(n *html.Node) []*html.Node {
	switch n.Type {
	case html.TextNode:
		return []*html.Node{{Type: html.TextNode, Data: n.Data}}
	case html.DocumentNode:
		return sz.collect(n)
	case html.ElementNode:
	default: // comments, doctype, raw nodes
		return nil
	}
	if n.Namespace != "" || droppedElements[n.DataAtom] || n.DataAtom == 0 && strings.ContainsAny(n.Data, ":") {
		return nil
	}
	if !keptElements[n.DataAtom] || sz.nodes >= maxHTMLNodes {
		return sz.collect(n) // html, head, body, form, unknown elements: unwrapped
	}
	sz.nodes++
	e := &html.Node{Type: html.ElementNode, DataAtom: n.DataAtom, Data: n.DataAtom.String()}
	if n.DataAtom == atom.Style {
		css := filterStyleSheet(textOf(n))
		if css == "" {
			return nil
		}
		e.AppendChild(&html.Node{Type: html.TextNode, Data: css})
		return []*html.Node{e}
	}
	e.Attr = sz.cleanAttrs(n.DataAtom, n.Attr)
	for _, c := range sz.collect(n) {
		e.AppendChild(c)
	}
	return []*html.Node{e}
}

// textOf is the text inside n (a <style> element's sheet).
func textOf(n *html.Node) string {
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}

// cleanAttrs keeps the allowed attributes of an element, checked.
func (sz *sanitizer) cleanAttrs(el atom.Atom, attrs []html.Attribute) []html.Attribute {
	var out []html.Attribute
	for _, a := range attrs {
		k := strings.ToLower(a.Key)
		if a.Namespace != "" || !keptAttrs[k] {
			continue
		}
		v := a.Val
		switch k {
		case "href":
			if el != atom.A {
				continue
			}
			if v = safeLink(v); v == "" {
				continue
			}
		case "src":
			if el != atom.Img {
				continue
			}
			if v = sz.imageSource(v); v == "" {
				continue // remote images are off: the URL is removed
			}
		case "style":
			if v = filterDeclarations(v); v == "" {
				continue
			}
		case "class":
			if len(v) > 256 {
				continue
			}
		}
		out = append(out, html.Attribute{Key: k, Val: v})
	}
	if el == atom.A {
		out = append(out, html.Attribute{Key: "target", Val: "_blank"}, html.Attribute{Key: "rel", Val: "noopener noreferrer"})
	}
	return out
}

// safeLink returns a link target when its scheme is http, https or
// mailto, else "". Browsers ignore tabs, newlines and leading control
// characters and spaces in a URL, so those are removed before the scheme
// is read ("java\tscript:" is javascript:).
func safeLink(v string) string {
	v = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, v)
	v = strings.TrimLeft(v, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
	lv := strings.ToLower(v)
	for _, p := range []string{"https://", "http://", "mailto:"} {
		if strings.HasPrefix(lv, p) && len(v) <= 4096 {
			return v
		}
	}
	return ""
}

// safeImage reports whether an img src is an inline raster image
// (data:image/png, gif, jpeg or webp, base64).
func safeImage(v string) bool {
	lv := strings.ToLower(strings.TrimSpace(v))
	for _, t := range []string{"png", "gif", "jpeg", "jpg", "webp"} {
		if strings.HasPrefix(lv, "data:image/"+t+";base64,") {
			return !strings.ContainsAny(v, "\"'<>\\ ")
		}
	}
	return false
}

// imageSource returns what an img src becomes: kept (a data: raster
// image), the inline part's data: URI (cid:), the proxy's path (a remote
// image, when shown), or "" (removed).
func (sz *sanitizer) imageSource(v string) string {
	if safeImage(v) {
		return v
	}
	lv := strings.ToLower(strings.TrimSpace(v))
	if strings.HasPrefix(lv, "cid:") {
		if sz.img.cid == nil {
			return ""
		}
		id, err := url.PathUnescape(strings.TrimSpace(v)[4:])
		if err != nil {
			return ""
		}
		d, ok := sz.img.cid(strings.Trim(id, "<>"))
		if !ok {
			return ""
		}
		return d
	}
	u := safeLink(v)
	lu := strings.ToLower(u)
	if !strings.HasPrefix(lu, "http://") && !strings.HasPrefix(lu, "https://") {
		return ""
	}
	if sz.img.remote != nil {
		if p, ok := sz.img.remote(u); ok {
			return p
		}
	}
	sz.img.blocked++
	return ""
}
