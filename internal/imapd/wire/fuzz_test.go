package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"
)

// FuzzReadCommand reads commands until the input ends: no panic, no
// hang, and every refusal is a typed *Error.
func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"a LOGIN {5}\r\nalice {3+}\r\nx y\r\n",
		"a UID FETCH 1:* (FLAGS BODY.PEEK[1.HEADER.FIELDS (From)]<0.10>) (CHANGEDSINCE 1 VANISHED)\r\n",
		"a SEARCH RETURN (SAVE) CHARSET UTF-8 OR (FROM x NOT SEEN) $ HEADER a {1}\r\nb\r\n",
		"a APPEND INBOX (\\Seen) \" 1-Jan-2020 00:00:00 +0000\" {3}\r\nabc UTF8 (~{2+}\r\nxy)\r\n",
		"a SELECT INBOX (QRESYNC (1 2 1:5 (1:2 3:4)))\r\n",
		"a LIST (SUBSCRIBED) \"\" (% \"*\") RETURN (STATUS (MESSAGES) CHILDREN)\r\n",
		"a STORE 1 (UNCHANGEDSINCE 5) +FLAGS.SILENT \\Seen x\r\n",
		"a ID (\"a\" NIL)\r\na SETQUOTA x (STORAGE 1)\r\na CREATE x (USE (\\Sent))\r\n",
		"a FROB {4+}\r\nxxxx\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bufio.NewReader(bytes.NewReader(in)), Limits{MaxLine: 1024, MaxLiteral: 512, MaxLiterals: 1024, MaxDepth: 20, MaxArgs: 100, MaxDiscard: 4096})
		r.Continue = func() error { return nil }
		r.AppendLimit = func(n int64) error {
			if n > 2048 {
				return errors.New("too big")
			}
			return nil
		}
		for range 1000 {
			cmd, err := r.ReadCommand()
			var e *Error
			switch {
			case errors.As(err, &e):
				if e.Kind == BYE {
					return
				}
				continue
			case err != nil:
				return
			}
			if a, ok := cmd.Args.(*Append); ok {
				for m := a.Message; m != nil; {
					n, err := io.Copy(io.Discard, m.Body)
					if err != nil {
						return
					}
					if n != m.Size {
						t.Fatalf("body %d bytes, announced %d", n, m.Size)
					}
					if m, err = r.NextAppend(); err != nil {
						break
					}
				}
			}
		}
	})
}

// FuzzLiteral checks literal handling: a literal within the limits is
// read exactly, one over them is refused before its data is asked for,
// and the reader is back at a command boundary either way (or says
// BYE).
func FuzzLiteral(f *testing.F) {
	f.Add(uint64(5), byte(0), []byte("hello"))
	f.Add(uint64(5), byte(1), []byte("hello"))
	f.Add(uint64(600), byte(2), []byte("x"))
	f.Add(uint64(1<<40), byte(0), []byte(""))
	f.Add(uint64(3), byte(3), []byte("a\x00b"))
	f.Fuzz(func(t *testing.T, size uint64, mode byte, data []byte) {
		const max = 512
		size %= 1 << 50
		var hdr string
		switch mode % 4 {
		case 0:
			hdr = "a LOGIN {" + strconv.FormatUint(size, 10) + "}\r\n"
		case 1:
			hdr = "a LOGIN {" + strconv.FormatUint(size, 10) + "+}\r\n"
		case 2:
			hdr = "a LOGIN {" + strconv.FormatUint(size, 10) + "-}\r\n"
		case 3:
			hdr = "a APPEND INBOX ~{" + strconv.FormatUint(size, 10) + "}\r\n"
		}
		in := hdr + string(data) + " x\r\nb NOOP\r\n"
		r := NewReader(bufio.NewReader(bytes.NewReader([]byte(in))), Limits{MaxLiteral: max, MaxDiscard: 4096})
		conts := 0
		r.Continue = func() error { conts++; return nil }
		cmd, err := r.ReadCommand()
		if size > max {
			var e *Error
			if err == io.ErrUnexpectedEOF && mode%4 != 0 && mode%4 != 3 && uint64(len(data)) < size {
				return // a non-synchronising literal's data is skipped: too little came
			}
			if !errors.As(err, &e) || e.Code != "TOOBIG" {
				t.Fatalf("size %d: got %v", size, err)
			}
			if conts != 0 {
				t.Fatalf("size %d: continuation sent for a refused literal", size)
			}
			return
		}
		if int(size) != len(data) || err != nil {
			return // the rest of the input is whatever the data made it
		}
		switch a := cmd.Args.(type) {
		case *Login:
			if a.User != string(data) {
				t.Fatalf("literal read as %q, sent %q", a.User, data)
			}
		case *Append:
			b, err := io.ReadAll(a.Message.Body)
			if err != nil || !bytes.Equal(b, data) {
				t.Fatalf("append body %q %v, sent %q", b, err, data)
			}
		}
	})
}
