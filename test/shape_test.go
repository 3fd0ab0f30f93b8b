package test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goFiles returns the repository's Go files (paths relative to the
// repository root), test files included when withTests is set.
func goFiles(t *testing.T, withTests bool) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && p != "..") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && (withTests || !strings.HasSuffix(p, "_test.go")) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A newcomer finds a feature in the file named after it: no file is a
// "more" annex beside an older one.
func TestNoFeatureLivesInAMoreFile(t *testing.T) {
	for _, p := range goFiles(t, true) {
		if strings.HasSuffix(strings.TrimSuffix(strings.TrimSuffix(filepath.Base(p), ".go"), "_test"), "more") {
			t.Errorf("%s: a *more.go file; move its code into the file that owns the behaviour", p)
		}
	}
}

// Every function of the program fits on a screen or two: none is over
// 100 lines (test files are exempt: their tables are long on purpose).
func TestNoFunctionIsOverAHundredLines(t *testing.T) {
	fset := token.NewFileSet()
	for _, p := range goFiles(t, false) {
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			start, end := fset.Position(fn.Pos()), fset.Position(fn.End())
			if n := end.Line - start.Line + 1; n > 100 {
				t.Errorf("%s:%d: %s is %d lines; split it", p, start.Line, fn.Name.Name, n)
			}
		}
	}
}

// docs/architecture.md has a row for every package and says which path
// each kind of data takes: a package added under internal/ without its
// row fails here.
func TestTheArchitectureDocumentNamesEveryPackage(t *testing.T) {
	doc, err := os.ReadFile("../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("../internal")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if !bytes.Contains(doc, []byte("\n| `"+e.Name()+"` |")) {
			t.Errorf("internal/%s has no row in the package table of docs/architecture.md", e.Name())
		}
	}
	// The document also says which path each kind of data takes.
	for _, path := range []string{"SMTP DATA", "IMAP FETCH", "import", "admin change"} {
		if !strings.Contains(string(doc), path) {
			t.Errorf("docs/architecture.md does not describe the path of an %s", path)
		}
	}
}
