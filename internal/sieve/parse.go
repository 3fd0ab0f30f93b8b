package sieve

import (
	"net/mail"
	"slices"
	"strings"
)

// arg is one argument as written: a tag, a number or a string list (a
// single string is a list of one, with list false).
type arg struct {
	pos   Pos
	tag   string
	isNum bool
	num   uint64
	strs  []string
	list  bool
}

func (a arg) kind() argKind {
	switch {
	case a.tag != "":
		return kTag
	case a.isNum:
		return kNumber
	case a.list:
		return kStrList
	}
	return kString
}

// call is a command or a test after validation: its tags (with their
// values), positional arguments, tests and block.
type call struct {
	pos   Pos
	name  string
	tags  map[string]arg // ":copy" → arg{tag}; ":days" → the number
	args  []arg
	tests []*call
	block []*call
	// elses are the elsif/else branches of an if, in order; an else has
	// no tests.
	elses []*call
}

func (c *call) has(tag string) bool { _, ok := c.tags[tag]; return ok }

// Script is a parsed and validated Sieve script.
type Script struct {
	cmds []*call
	exts map[string]bool
}

// Extensions reports the capabilities the script requires.
func (s *Script) Extensions() []string {
	var l []string
	for e := range s.exts {
		l = append(l, e)
	}
	slices.Sort(l)
	return l
}

// Extensions is the SIEVE capability this implementation supports, in
// the order ManageSieve lists it.
var Extensions = []string{"fileinto", "copy", "envelope", "imap4flags", "vacation", "body", "relational", "comparator-i;ascii-numeric", "date"}

// MaxScriptSize bounds what Parse accepts.
const MaxScriptSize = 1 << 20

const maxNesting = 32

type parser struct {
	lx   lexer
	tok  token
	exts map[string]bool
	// requireOK is true until the first command that is not require.
	requireOK bool
	depth     int
}

// Parse parses and validates a script: syntax, known commands and tests
// with their arguments, and that every extension used is required.
func Parse(src string) (*Script, error) {
	if len(src) > MaxScriptSize {
		return nil, &Error{Msg: "script too large"}
	}
	p := &parser{lx: lexer{src: src, line: 1, col: 1}, exts: map[string]bool{}, requireOK: true}
	if err := p.advance(); err != nil {
		return nil, err
	}
	cmds, err := p.commands(true)
	if err != nil {
		return nil, err
	}
	return &Script{cmds: cmds, exts: p.exts}, nil
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) isPunct(s string) bool { return p.tok.kind == tPunct && p.tok.s == s }

func (p *parser) expect(s string, what string) error {
	if !p.isPunct(s) {
		return errorf(p.tok.pos, "expected %q %s, got %s", s, what, p.tok)
	}
	return p.advance()
}

// commands parses commands up to the end of the script (top) or a '}'.
func (p *parser) commands(top bool) ([]*call, error) {
	var out []*call
	for {
		if p.tok.kind == tEOF {
			if !top {
				return nil, errorf(p.tok.pos, "missing '}' at the end of a block")
			}
			return out, nil
		}
		if p.isPunct("}") {
			if top {
				return nil, errorf(p.tok.pos, "unexpected '}'")
			}
			return out, nil
		}
		c, err := p.command()
		if err != nil {
			return nil, err
		}
		switch c.name {
		case "elsif", "else":
			if len(out) == 0 || out[len(out)-1].name != "if" || last(out[len(out)-1].elses) == "else" {
				return nil, errorf(c.pos, "%s without a preceding if", c.name)
			}
			out[len(out)-1].elses = append(out[len(out)-1].elses, c)
			continue
		}
		out = append(out, c)
	}
}

func last(l []*call) string {
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1].name
}

func (p *parser) command() (*call, error) {
	if p.tok.kind != tIdent {
		return nil, errorf(p.tok.pos, "expected a command, got %s", p.tok)
	}
	c := &call{pos: p.tok.pos, name: p.tok.s}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.arguments(c); err != nil {
		return nil, err
	}
	switch {
	case p.isPunct(";"):
		if err := p.advance(); err != nil {
			return nil, err
		}
	case p.isPunct("{"):
		p.depth++
		if p.depth > maxNesting {
			return nil, errorf(p.tok.pos, "blocks nested too deeply")
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		b, err := p.commands(false)
		if err != nil {
			return nil, err
		}
		p.depth--
		if err := p.advance(); err != nil { // the '}'
			return nil, err
		}
		if b == nil {
			b = []*call{}
		}
		c.block = b
	default:
		return nil, errorf(p.tok.pos, "expected ';' or '{' after %s, got %s", c.name, p.tok)
	}
	if err := p.checkCommand(c); err != nil {
		return nil, err
	}
	if c.name != "require" {
		p.requireOK = false
	}
	return c, nil
}

// arguments reads *argument [test / test-list] into c (unvalidated).
func (p *parser) arguments(c *call) error {
	for {
		switch {
		case p.tok.kind == tTag:
			c.args = append(c.args, arg{pos: p.tok.pos, tag: p.tok.s})
		case p.tok.kind == tNumber:
			c.args = append(c.args, arg{pos: p.tok.pos, isNum: true, num: p.tok.n})
		case p.tok.kind == tString:
			c.args = append(c.args, arg{pos: p.tok.pos, strs: []string{p.tok.s}})
		case p.isPunct("["):
			a := arg{pos: p.tok.pos, list: true}
			for {
				if err := p.advance(); err != nil {
					return err
				}
				if p.tok.kind != tString {
					return errorf(p.tok.pos, "expected a string in the list, got %s", p.tok)
				}
				a.strs = append(a.strs, p.tok.s)
				if err := p.advance(); err != nil {
					return err
				}
				if p.isPunct("]") {
					break
				}
				if !p.isPunct(",") {
					return errorf(p.tok.pos, "expected ',' or ']' in a string list, got %s", p.tok)
				}
			}
			c.args = append(c.args, a)
		case p.tok.kind == tIdent:
			t, err := p.test()
			if err != nil {
				return err
			}
			c.tests = []*call{t}
			return nil
		case p.isPunct("("):
			ts, err := p.testList()
			if err != nil {
				return err
			}
			c.tests = ts
			c.args = append(c.args, arg{pos: c.pos, tag: "\x00list"}) // marks a test list
			return nil
		default:
			return nil
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
}

func (p *parser) testList() ([]*call, error) {
	var out []*call
	for {
		if err := p.advance(); err != nil { // '(' or ','
			return nil, err
		}
		t, err := p.test()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		if p.isPunct(")") {
			return out, p.advance()
		}
		if !p.isPunct(",") {
			return nil, errorf(p.tok.pos, "expected ',' or ')' in a test list, got %s", p.tok)
		}
	}
}

func (p *parser) test() (*call, error) {
	if p.tok.kind != tIdent {
		return nil, errorf(p.tok.pos, "expected a test, got %s", p.tok)
	}
	p.depth++
	if p.depth > maxNesting {
		return nil, errorf(p.tok.pos, "tests nested too deeply")
	}
	t := &call{pos: p.tok.pos, name: p.tok.s}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.arguments(t); err != nil {
		return nil, err
	}
	p.depth--
	return t, p.checkTest(t)
}

func (p *parser) checkCommand(c *call) error {
	sp, ok := commands[c.name]
	if !ok {
		return errorf(c.pos, "unknown command %q", c.name)
	}
	if c.name == "require" {
		if !p.requireOK {
			return errorf(c.pos, "require must come before any other command")
		}
	}
	if err := p.check(c, sp, "command"); err != nil {
		return err
	}
	if c.name == "require" {
		for _, e := range c.args[0].strs {
			if !slices.Contains(Extensions, e) {
				return errorf(c.args[0].pos, "unsupported extension %q", e)
			}
			p.exts[e] = true
		}
	}
	if sp.block && c.block == nil {
		return errorf(c.pos, "%s needs a block { ... }", c.name)
	}
	if !sp.block && c.block != nil {
		return errorf(c.pos, "%s takes no block", c.name)
	}
	if c.name == "redirect" {
		a := c.args[0]
		if _, err := mail.ParseAddress(a.strs[0]); err != nil || strings.ContainsAny(a.strs[0], "<>") {
			return errorf(a.pos, "redirect: %q is not an email address", a.strs[0])
		}
	}
	return nil
}

func (p *parser) checkTest(t *call) error {
	sp, ok := tests[t.name]
	if !ok {
		if _, isCmd := commands[t.name]; isCmd {
			return errorf(t.pos, "%s is a command, not a test", t.name)
		}
		return errorf(t.pos, "unknown test %q", t.name)
	}
	return p.check(t, sp, "test")
}

// check validates c's arguments against its spec and sorts them into tags
// and positionals.
func (p *parser) check(c *call, sp spec, what string) error {
	if sp.ext != "" && !p.exts[sp.ext] {
		return errorf(c.pos, "%s %s needs require %q", what, c.name, sp.ext)
	}
	c.tags = map[string]arg{}
	groups := map[int]string{}
	var pos []arg
	args := c.args
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a.tag == "\x00list" {
			continue
		}
		if a.tag == "" {
			pos = append(pos, a)
			continue
		}
		if len(pos) > 0 {
			return errorf(a.pos, "%s: tag :%s must come before the other arguments", c.name, a.tag)
		}
		ts, ok := sp.tags[a.tag]
		if !ok {
			ts, ok = commonTags(sp, a.tag)
		}
		if !ok {
			return errorf(a.pos, "%s: unknown tag :%s", c.name, a.tag)
		}
		if ts.ext != "" && !p.exts[ts.ext] {
			return errorf(a.pos, "%s: tag :%s needs require %q", c.name, a.tag, ts.ext)
		}
		if _, dup := c.tags[a.tag]; dup {
			return errorf(a.pos, "%s: tag :%s given twice", c.name, a.tag)
		}
		if ts.group != 0 {
			if o, dup := groups[ts.group]; dup {
				return errorf(a.pos, "%s: :%s and :%s cannot be used together", c.name, o, a.tag)
			}
			groups[ts.group] = a.tag
		}
		v := a
		if ts.arg != kNone {
			if i+1 >= len(args) || args[i+1].tag != "" || !fits(args[i+1].kind(), ts.arg) {
				return errorf(a.pos, "%s: :%s needs %s", c.name, a.tag, ts.arg)
			}
			i++
			v = args[i]
			v.tag = a.tag
		}
		c.tags[a.tag] = v
	}
	if len(pos) != len(sp.args) {
		if len(pos) < len(sp.args) {
			return errorf(c.pos, "%s: missing argument: %s", c.name, sp.args[len(pos)])
		}
		return errorf(pos[len(sp.args)].pos, "%s: too many arguments", c.name)
	}
	for i, a := range pos {
		if !fits(a.kind(), sp.args[i]) {
			return errorf(a.pos, "%s: argument %d must be %s", c.name, i+1, sp.args[i])
		}
	}
	c.args = pos
	if err := checkTests(c, sp, args); err != nil {
		return err
	}
	return p.checkValues(c)
}

// checkTests checks that c has the tests its spec asks for.
func checkTests(c *call, sp spec, args []arg) error {
	switch {
	case sp.tests == 0 && len(c.tests) > 0:
		return errorf(c.tests[0].pos, "%s takes no test", c.name)
	case sp.tests == 1 && (len(c.tests) != 1 || slices.ContainsFunc(args, func(a arg) bool { return a.tag == "\x00list" })):
		return errorf(c.pos, "%s needs exactly one test", c.name)
	case sp.tests == 2 && !slices.ContainsFunc(args, func(a arg) bool { return a.tag == "\x00list" }):
		return errorf(c.pos, "%s needs a test list ( ... )", c.name)
	}
	return nil
}

// checkValues checks the values of c's arguments that the spec's kinds
// cannot express: comparator and match type combinations, relational
// operators, date parts.
func (p *parser) checkValues(c *call) error {
	if cmp, ok := c.tags["comparator"]; ok {
		name := cmp.strs[0]
		switch name {
		case "i;octet", "i;ascii-casemap":
		case "i;ascii-numeric":
			if !p.exts["comparator-i;ascii-numeric"] {
				return errorf(cmp.pos, "comparator %q needs require %q", name, "comparator-i;ascii-numeric")
			}
			if c.has("contains") || c.has("matches") {
				return errorf(cmp.pos, "comparator %q supports only :is, :count and :value", name)
			}
		default:
			return errorf(cmp.pos, "unknown comparator %q", name)
		}
	}
	for _, rel := range []string{"count", "value"} {
		if a, ok := c.tags[rel]; ok && !slices.Contains([]string{"gt", "ge", "lt", "le", "eq", "ne"}, strings.ToLower(a.strs[0])) {
			return errorf(a.pos, "relational operator %q is not one of gt, ge, lt, le, eq, ne", a.strs[0])
		}
	}
	if c.name == "currentdate" && !slices.Contains(dateParts, strings.ToLower(c.args[0].strs[0])) {
		return errorf(c.args[0].pos, "currentdate: unknown date part %q", c.args[0].strs[0])
	}
	if c.name == "size" && !c.has("over") && !c.has("under") {
		return errorf(c.pos, "size needs :over or :under")
	}
	if a, ok := c.tags["content"]; ok && len(a.strs) == 0 {
		return errorf(a.pos, "body: :content needs at least one type")
	}
	return nil
}

func fits(have, want argKind) bool {
	return have == want || want == kStrList && have == kString
}
