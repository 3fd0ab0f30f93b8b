package backup

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"strconv"
	"unsafe"
)

// Objects written past the page cache. A full backup writes ~770 MB of
// objects that nothing reads back soon; through the page cache the
// kernel copies every byte into it, and later writes it out from a
// flusher thread, on the same two cores as the encryption
// (bench/results/backup-2026-12-07.md: half the CPU of writing an
// object). With O_DIRECT the disk reads the worker's buffer itself. The
// file is written in whole blocks (the buffer's spare capacity, zeroed,
// pads the last one) and then cut to the object's size; the fsync that
// follows makes its size and blocks durable as before.

// directAlign is the alignment O_DIRECT asks of the buffer, the offset
// and the length: 4096 covers the logical block of every common disk.
const directAlign = 4096

// directMin is the smallest object written with O_DIRECT: below it the
// copy into the page cache costs less than the padding and the wait.
const directMin = 64 << 10

// directOK tells whether data can be written with O_DIRECT from its own
// storage: aligned, and room in its capacity for the padding.
func directOK(data []byte) bool {
	if oDirect == 0 || len(data) < directMin {
		return false
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(data)))%directAlign == 0 && cap(data) >= roundBlock(len(data))
}

func roundBlock(n int) int { return (n + directAlign - 1) / directAlign * directAlign }

// writeDirect writes data, padded with zeros to a whole block, to f (new,
// opened with O_DIRECT) and cuts the file to len(data).
func writeDirect(f *os.File, data []byte) error {
	padded := data[:roundBlock(len(data))]
	clear(padded[len(data):])
	if _, err := f.Write(padded); err != nil {
		return err
	}
	return f.Truncate(int64(len(data)))
}

// createTemp creates a new temporary file ".BASE.tmpN" in dir (the names
// CleanTemp removes), with O_DIRECT when direct.
func createTemp(dir, base string, direct bool) (*os.File, error) {
	flags := os.O_CREATE | os.O_EXCL | os.O_WRONLY
	if direct {
		flags |= oDirect
	}
	for range 100 {
		p := dir + string(os.PathSeparator) + "." + base + ".tmp" + strconv.FormatUint(uint64(rand.Uint32()), 10)
		f, err := os.OpenFile(p, flags, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, &fs.PathError{Op: "createtemp", Path: dir + "/." + base + ".tmp*", Err: fs.ErrExist}
}
