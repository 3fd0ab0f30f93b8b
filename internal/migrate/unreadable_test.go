package migrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"boxmail/internal/store"
)

// deepDirs returns a relative path of n nested directories under first.
func deepDirs(first string, n int) string {
	parts := []string{first}
	for i := range n {
		parts = append(parts, "d"+strings.Repeat("x", i%3))
	}
	return filepath.Join(parts...)
}

// importReport imports src into a new box and returns the report.
func importReport(t *testing.T, src Source) *Report {
	t.Helper()
	st, acc := newBox(t, t.TempDir(), store.Options{}, "me@example.net")
	rep, err := Import(context.Background(), Options{Store: st, AccountID: acc.ID}, src)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// failedFolder returns the report's folder whose error names what, and
// checks that the import is not called done.
func failedFolder(t *testing.T, rep *Report, what string) FolderReport {
	t.Helper()
	if rep.Done() {
		t.Error("an import that could not read a folder says done")
	}
	for _, f := range rep.Folders {
		if strings.Contains(f.Error, what) {
			return f
		}
	}
	t.Fatalf("no folder reports %q: %+v", what, rep.Folders)
	return FolderReport{}
}

// A folder of a Maildir that the walk cannot read (here: deeper than the
// walk goes; an unreadable directory takes the same path) is in the
// report with its error, the other folders are imported, and the import
// is not done.
func TestAMaildirFolderThatCannotBeReadIsReportedAndTheImportIsNotDone(t *testing.T) {
	md := t.TempDir()
	deep := deepDirs("Work", maxDepth+2)
	mkTree(t, md, "cur/", "new/", "cur/1:2,S", deep+"/cur/", deep+"/new/", deep+"/cur/2:2,")
	src, err := NewMaildirSource(md)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rep := importReport(t, src)
	f := failedFolder(t, rep, "levels deep")
	if !strings.HasPrefix(f.Old, "Work/") || f.Copied != 0 {
		t.Errorf("the unread folder: %+v", f)
	}
	if tot := rep.Totals(); tot.Copied != 1 || tot.Failed != 1 {
		t.Errorf("copied %d, failed %d; want INBOX's message copied and one folder failed", tot.Copied, tot.Failed)
	}
}

// The same for a directory of mbox files: a .sbd directory that cannot be
// read is reported as its folder's subfolders ("Work/*").
func TestAnMboxDirectoryThatCannotBeReadIsReportedAndTheImportIsNotDone(t *testing.T) {
	dir := t.TempDir()
	deep := strings.ReplaceAll(deepDirs("Work", maxDepth+1), "/", ".sbd/") + ".sbd/" // Work.sbd/d.sbd/dx.sbd/...
	mkTree(t, dir, deep)
	if err := os.WriteFile(filepath.Join(dir, "Inbox"), []byte(sampleMbox), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := NewMboxSource(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rep := importReport(t, src)
	f := failedFolder(t, rep, "levels deep")
	if !strings.HasPrefix(f.Old, "Work/") || !strings.HasSuffix(f.Old, "/*") {
		t.Errorf("the unread folder is named %q", f.Old)
	}
	if tot := rep.Totals(); tot.Copied == 0 {
		t.Error("the readable Inbox was not imported")
	}
}

// A directory that cannot be listed (permission denied) is reported the
// same way. Root reads any directory, so this runs only as another user.
func TestAnUnreadableMaildirFolderIsReported(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads a directory of mode 000")
	}
	md := t.TempDir()
	mkTree(t, md, "cur/", "new/", "cur/1:2,S", "Work/cur/", "Work/new/", "Work/cur/2:2,")
	if err := os.Chmod(filepath.Join(md, "Work"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(md, "Work"), 0o700) })
	src, err := NewMaildirSource(md)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f := failedFolder(t, importReport(t, src), "permission denied")
	if f.Old != "Work" {
		t.Errorf("the unread folder is named %q", f.Old)
	}
}

// Folder.Err keeps the error it wraps.
func TestAnUnreadableFolderKeepsItsError(t *testing.T) {
	f := unreadableFolder("Work", "Work", os.ErrPermission)
	if !errors.Is(f.Err, os.ErrPermission) {
		t.Errorf("%v does not wrap os.ErrPermission", f.Err)
	}
}
