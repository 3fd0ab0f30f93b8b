package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"testing"
)

// codedErr is an error with a SQLite result code, as the driver's.
type codedErr int

func (e codedErr) Error() string { return fmt.Sprintf("sqlite error %d", int(e)) }
func (e codedErr) Code() int     { return int(e) }

// A full disk is recognised by its type, however deeply wrapped.
func TestClassifyKnowsAFullDiskByItsType(t *testing.T) {
	enospc := &fs.PathError{Op: "write", Path: "bodies/x", Err: syscall.ENOSPC}
	for _, tc := range []struct {
		name string
		err  error
		full bool
	}{
		{"ENOSPC from a body file", fmt.Errorf("writing body file: %w", enospc), true},
		{"ENOSPC wrapped twice", fmt.Errorf("import: %w", fmt.Errorf("store: %w", enospc)), true},
		{"SQLITE_FULL", fmt.Errorf("commit: %w", codedErr(13)), true},
		{"an extended code of SQLITE_FULL", codedErr(13 | 1<<8), true},
		{"another SQLite error", codedErr(5), false},
		{"another errno", &fs.PathError{Op: "open", Path: "x", Err: syscall.EACCES}, false},
		{"only the text of ENOSPC", errors.New("write: no space left on device"), false},
		{"not an error", nil, false},
	} {
		err := classify(tc.err)
		if got := errors.Is(err, ErrDiskFull); got != tc.full {
			t.Errorf("%s: classify(%v) = %v, full %v; want full %v", tc.name, tc.err, err, got, tc.full)
		}
		if tc.full && !errors.Is(err, tc.err) {
			t.Errorf("%s: %v lost the error it classified", tc.name, err)
		}
	}
	once := classify(fmt.Errorf("x: %w", os.NewSyscallError("write", syscall.ENOSPC)))
	if twice := classify(once); twice != once {
		t.Errorf("classified twice: %v", twice)
	}
}
