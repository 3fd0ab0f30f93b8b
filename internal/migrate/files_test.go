package migrate

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"boxmail/internal/store"
)

// mkTree builds a directory from a list of entries: "name" a file with
// content, "name/" a directory, "name -> target" a link, "name|" a FIFO.
func mkTree(t *testing.T, dir string, entries ...string) {
	t.Helper()
	for _, e := range entries {
		var err error
		switch name, target, isLink := strings.Cut(e, " -> "); {
		case isLink:
			err = os.Symlink(target, filepath.Join(dir, name))
		case strings.HasSuffix(e, "/"):
			err = os.MkdirAll(filepath.Join(dir, e), 0o700)
		case strings.HasSuffix(e, "|"):
			err = syscall.Mkfifo(filepath.Join(dir, strings.TrimSuffix(e, "|")), 0o600)
		default:
			err = os.WriteFile(filepath.Join(dir, e), []byte("Subject: "+e+"\n\nbody of "+e+"\n"), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// within fails the test when fn does not return in time (a FIFO opened
// for reading waits for a writer forever).
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { fn(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s hangs", what)
	}
}

func TestATreeOpensOnlyRegularFilesAndDirectoriesNeverLinks(t *testing.T) {
	outside := t.TempDir()
	mkTree(t, outside, "secret", "dir/", "dir/secret")
	dir := t.TempDir()
	mkTree(t, dir, "a", "sub/", "sub/b", "fifo|",
		"out -> "+filepath.Join(outside, "secret"),
		"in -> a",
		"outdir -> "+filepath.Join(outside, "dir"),
		"indir -> sub",
		"dangling -> nowhere")
	tr, err := openTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for _, tc := range []struct {
		name string
		dir  bool
		ok   bool
	}{
		{"a", false, true},
		{"sub/b", false, true},
		{"sub", true, true},
		{".", true, true},
		{"fifo", false, false},
		{"out", false, false},
		{"in", false, false},
		{"dangling", false, false},
		{"outdir", true, false},
		{"outdir/secret", false, false},
		{"indir", true, false},
		{"../" + filepath.Base(dir) + "/a", false, false}, // leaves the root, even to come back
		{filepath.Join(outside, "secret"), false, false},
		{"sub", false, false},
		{"a", true, false},
	} {
		within(t, "open "+tc.name, func() {
			f, err := tr.open(tc.name, tc.dir)
			if (err == nil) != tc.ok {
				t.Errorf("open(%q, dir=%v): %v, want ok=%v", tc.name, tc.dir, err, tc.ok)
			}
			if f != nil {
				if !tc.dir {
					if b, _ := io.ReadAll(f); strings.Contains(string(b), "secret") {
						t.Errorf("open(%q) read the outside secret", tc.name)
					}
				}
				f.Close()
			}
		})
	}
	// The listing reports what is neither a directory nor a file.
	var names []string
	within(t, "entries", func() {
		ents, err := tr.entries(".")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			names = append(names, e.Name())
		}
	})
	slices.Sort(names)
	if want := []string{"a", "sub"}; !slices.Equal(names, want) {
		t.Errorf("entries: %v, want %v", names, want)
	}
	ig, n := tr.Ignored()
	var paths []string
	for _, i := range ig {
		paths = append(paths, i.Path+": "+i.Reason)
	}
	if n != 6 || !strings.Contains(strings.Join(paths, "\n"), "fifo: a FIFO") || !strings.Contains(strings.Join(paths, "\n"), "out: a symbolic link") {
		t.Errorf("ignored %d:\n%s", n, strings.Join(paths, "\n"))
	}
}

func TestAMaildirSourceLeavesOutLinksAndSpecialFiles(t *testing.T) {
	outside := t.TempDir()
	mkTree(t, outside, "key.pem", "md/", "md/cur/", "md/new/", "md/cur/9:2,S")
	md := t.TempDir()
	mkTree(t, md, "cur/", "new/", "tmp/", "cur/1:2,S", "new/2", "new/3|",
		"cur/4:2,S -> "+filepath.Join(outside, "key.pem"),
		".Linked -> "+filepath.Join(outside, "md"),
		"Linked2 -> "+filepath.Join(outside, "md"),
		".Half/", ".Half/cur/", ".Half/cur/5:2,", ".Half/new -> "+filepath.Join(outside, "md", "cur"),
		".Both/", ".Both/cur -> ../cur", ".Both/new -> ../new",
		"dovecot-keywords -> "+filepath.Join(outside, "key.pem"))
	var src *MaildirSource
	within(t, "NewMaildirSource", func() {
		var err error
		if src, err = NewMaildirSource(md); err != nil {
			t.Fatal(err)
		}
	})
	defer src.Close()
	ctx := context.Background()
	fs, _ := src.Folders(ctx)
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
	}
	if want := []string{"Half", "INBOX"}; !slices.Equal(names, want) {
		t.Errorf("folders %v, want %v", names, want)
	}
	keys := map[string][]string{}
	for _, f := range fs {
		rd, err := src.Open(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var msgs []MsgInfo
		within(t, "List "+f.Name, func() {
			if msgs, err = rd.List(ctx); err != nil {
				t.Fatal(err)
			}
		})
		within(t, "Fetch "+f.Name, func() {
			rd.Fetch(ctx, msgs, func(key string, r io.Reader) error {
				b, _ := io.ReadAll(r)
				if strings.Contains(string(b), "key.pem") || strings.Contains(string(b), "body of md/") {
					t.Errorf("%s: read a file outside the Maildir: %q", f.Name, b)
				}
				keys[f.Name] = append(keys[f.Name], key)
				return nil
			})
		})
		rd.Close()
	}
	if !slices.Equal(keys["INBOX"], []string{"1", "2"}) || !slices.Equal(keys["Half"], []string{"5"}) {
		t.Errorf("messages read: %v", keys)
	}
	ig, n := src.Ignored()
	var got []string
	for _, i := range ig {
		got = append(got, i.Path)
	}
	want := []string{".Both/cur", ".Both/new", ".Half/new", ".Linked", "Linked2", "cur/4:2,S", "dovecot-keywords", "new/3"}
	if n != len(want) || !slices.Equal(got, want) {
		t.Errorf("ignored %d %v, want %v", n, got, want)
	}
}

// A message replaced by a link between the listing and the fetch is
// not read, and is reported.
func TestAMaildirMessageSwappedForALinkIsNotRead(t *testing.T) {
	outside := t.TempDir()
	mkTree(t, outside, "key.pem")
	md := t.TempDir()
	mkTree(t, md, "cur/", "new/", "cur/1:2,S", "cur/2:2,S")
	src, err := NewMaildirSource(md)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	rd, _ := src.Open(ctx, Folder{Name: "INBOX"})
	msgs, err := rd.List(ctx)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("List: %v %v", msgs, err)
	}
	os.Remove(filepath.Join(md, "cur", "2:2,S"))
	os.Symlink(filepath.Join(outside, "key.pem"), filepath.Join(md, "cur", "2:2,S"))
	var got []string
	rd.Fetch(ctx, msgs, func(key string, r io.Reader) error {
		got = append(got, key)
		return nil
	})
	if !slices.Equal(got, []string{"1"}) {
		t.Errorf("fetched %v, want only 1", got)
	}
	if ig, _ := src.Ignored(); len(ig) != 1 || ig[0].Path != "cur/2:2,S" {
		t.Errorf("ignored %v", ig)
	}
}

func TestAnMboxSourceLeavesOutLinksBelowTheNamedPath(t *testing.T) {
	outside := t.TempDir()
	mkTree(t, outside, "Secret", "x.sbd/", "x.sbd/Inner")
	os.WriteFile(filepath.Join(outside, "Secret"), []byte(sampleMbox), 0o600)
	dir := t.TempDir()
	mkTree(t, dir, "Work.sbd/", "Pipe|",
		"Stolen -> "+filepath.Join(outside, "Secret"),
		"Linked.sbd -> "+filepath.Join(outside, "x.sbd"))
	os.WriteFile(filepath.Join(dir, "Inbox"), []byte(sampleMbox), 0o600)
	os.WriteFile(filepath.Join(dir, "Work.sbd", "Projects"), []byte(sampleMbox), 0o600)
	// The admin may name the directory through a link.
	top := filepath.Join(t.TempDir(), "profile")
	os.Symlink(dir, top)
	var src *MboxSource
	within(t, "NewMboxSource", func() {
		var err error
		if src, err = NewMboxSource(top, ""); err != nil {
			t.Fatal(err)
		}
	})
	defer src.Close()
	fs, _ := src.Folders(context.Background())
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
	}
	if want := []string{"INBOX", "Work/Projects"}; !slices.Equal(names, want) {
		t.Errorf("folders %v, want %v", names, want)
	}
	ig, n := src.Ignored()
	var got []string
	for _, i := range ig {
		got = append(got, i.Path)
	}
	if want := []string{"Linked.sbd", "Pipe", "Stolen"}; n != 3 || !slices.Equal(got, want) {
		t.Errorf("ignored %d %v, want %v", n, got, want)
	}
	// One file named by the admin: a link to it is fine, a FIFO is not
	// (and is refused without waiting for a writer).
	link := filepath.Join(t.TempDir(), "inbox")
	os.Symlink(filepath.Join(dir, "Inbox"), link)
	if s, err := NewMboxSource(link, ""); err != nil {
		t.Errorf("a linked mbox file: %v", err)
	} else {
		s.Close()
	}
	within(t, "NewMboxSource(FIFO)", func() {
		if _, err := NewMboxSource(filepath.Join(dir, "Pipe"), ""); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("a FIFO as the mbox: %v", err)
		}
	})
}

func TestParseMaildirName(t *testing.T) {
	kws := map[byte]string{'a': "$Label1", 'c': "Work"}
	for _, tc := range []struct {
		name, key string
		flags     store.Flags
		keywords  []string
		deleted   bool
	}{
		{"1.M1.host:2,FRS", "1.M1.host", store.FlagFlagged | store.FlagAnswered | store.FlagSeen, nil, false},
		{"2.M2.host:2,DTac", "2.M2.host", store.FlagDraft, []string{"$Label1", "Work"}, true},
		{"3.M3.host:2,b", "3.M3.host", 0, nil, false},
		{"4.M4.host", "4.M4.host", 0, nil, false},
		{"5.M5.host:1,S", "5.M5.host", 0, nil, false},
	} {
		m := parseMaildirName(tc.name, kws)
		if m.Key != tc.key || m.Flags != tc.flags || !slices.Equal(m.Keywords, tc.keywords) || m.Deleted != tc.deleted {
			t.Errorf("%q: %+v", tc.name, m)
		}
	}
}

// FuzzParseMaildirName: a file name is chosen by whoever made the
// Maildir; it never panics and the key is the part before ":".
func FuzzParseMaildirName(f *testing.F) {
	f.Add("1.M1.host:2,FRS")
	f.Add("2:2,DTabcz")
	f.Add(":2,")
	kws := map[byte]string{'a': "$Label1", 'z': "Last"}
	f.Fuzz(func(t *testing.T, name string) {
		m := parseMaildirName(name, kws)
		if key, _, _ := strings.Cut(name, ":"); m.Key != key {
			t.Errorf("%q: key %q", name, m.Key)
		}
		if len(m.Keywords) > len(name) {
			t.Errorf("%q: %d keywords", name, len(m.Keywords))
		}
	})
}
