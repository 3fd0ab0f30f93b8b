package admin

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// writeName is how the store names a method that changes state. The
// check below is by name, not by type: it lists the *store.Store methods
// whose names match, then fails on a call of any of them in the web and
// the boxmail command unless its receiver is named as the admin service
// is there (adm, admin, s.o.Admin, or a call of newAdmin or newBoxAdmin). Reads (Accounts, TOTPEnabled,
// DisabledAccounts) and the login path's own writes (RecordLogin,
// CheckTOTP) do not match; the mail path's writes (Deliver, Append,
// Expunge, Copy, import runs...) do, since neither the web nor the
// command line may make them either.
var writeName = regexp.MustCompile(`^(Add|Set|Remove|Delete|Create|Enable|Disable|Revoke|Activate|Rotate|Unblock|Put|Update|Insert|Save|Mark|QueueRetry|QueueRemove|Start|Finish|Deliver|Rename|Append|Expunge|Copy|ClearRecent|ImportMessages)([A-Z]|$)`)

var adminReceivers = map[string]bool{"adm": true, "admin": true, "Admin": true, "newAdmin": true, "newBoxAdmin": true}

// storeWrites are the names of the *store.Store methods that write.
func storeWrites(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range parseDir(t, "../store") {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || len(fn.Recv.List) != 1 || !writeName.MatchString(fn.Name.Name) {
				continue
			}
			if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok {
				if id, ok := star.X.(*ast.Ident); ok && id.Name == "Store" {
					out[fn.Name.Name] = true
				}
			}
		}
	}
	return out
}

// parseDir parses the non-test Go files of dir, by file name.
func parseDir(t *testing.T, dir string) map[string]*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*ast.File{}
	fset := token.NewFileSet()
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(n)] = f
	}
	return out
}

// lastName is the final identifier of a call's receiver: st for st.X,
// Admin for s.o.Admin.X, newAdmin for newAdmin(st).X.
func lastName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.CallExpr:
		return lastName(x.Fun)
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return x.Sel.Name
	}
	return ""
}

// TestOnlyAdminWritesAdminState: the web and the boxmail command change
// admin state only through this package (issue 13), so the checks here
// cannot be skipped by a second route to the store.
func TestOnlyAdminWritesAdminState(t *testing.T) {
	writes := storeWrites(t)
	if !writes["AddAccount"] || !writes["RemoveAuthBlock"] || writes["DisabledAccounts"] {
		t.Fatalf("the store's write methods were not found by name: %v", writes)
	}
	for _, dir := range []string{"../web", "../../cmd/boxmail"} {
		for name, f := range parseDir(t, dir) {
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if ok && writes[sel.Sel.Name] && !adminReceivers[lastName(sel.X)] {
					t.Errorf("%s/%s calls %s.%s: change admin state through admin.Service", dir, name, lastName(sel.X), sel.Sel.Name)
				}
				return true
			})
		}
	}
}
