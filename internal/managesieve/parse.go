package managesieve

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"

	"boxmail/internal/sieve"
)

// Limits of what a client may send: a line, the arguments of a command,
// and the bytes of one command with its literals, which before login is
// small (AUTHENTICATE needs little) and after it a script and a name.
const (
	maxLine       = 8 << 10
	maxArgs       = 8
	maxPreAuth    = 64 << 10
	maxAuthed     = sieve.MaxScriptSize + 64<<10
	literalChunks = 64 << 10
)

// protoError is a malformed command: answered NO with the message.
type protoError struct {
	msg   string
	fatal bool // the stream cannot be resynchronised: BYE
}

func (e protoError) Error() string { return e.msg }

// readCommand reads one command: an atom and its string arguments (quoted
// strings and literals {n+} / {n}, RFC 5804 4), of at most limit bytes
// in all. It returns the command name upper-cased. A literal announced
// beyond the limit ends the connection before any of it is read.
func readCommand(r *bufio.Reader, limit int) (string, []string, error) {
	line, err := readLine(r)
	if err != nil {
		return "", nil, err
	}
	used := len(line)
	var name string
	var args []string
	i := 0
	skip := func() {
		for i < len(line) && line[i] == ' ' {
			i++
		}
	}
	skip()
	for i < len(line) && line[i] != ' ' {
		c := line[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return "", nil, protoError{msg: fmt.Sprintf("bad command name at column %d", i+1)}
		}
		i++
	}
	name = strings.ToUpper(line[:i])
	if name == "" {
		return "", nil, protoError{msg: "empty command"}
	}
	for {
		skip()
		if i >= len(line) {
			return name, args, nil
		}
		if len(args) >= maxArgs {
			return name, nil, protoError{msg: "too many arguments"}
		}
		switch line[i] {
		case '"':
			var b strings.Builder
			i++
			for {
				if i >= len(line) {
					return name, nil, protoError{msg: "unterminated quoted string"}
				}
				c := line[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' {
					i++
					if i >= len(line) || line[i] != '"' && line[i] != '\\' {
						return name, nil, protoError{msg: "bad escape in quoted string"}
					}
					c = line[i]
				}
				b.WriteByte(c)
				i++
			}
			args = append(args, b.String())
		case '{':
			end := strings.IndexByte(line[i:], '}')
			if end < 0 || i+end != len(line)-1 {
				return name, nil, protoError{msg: "a literal {n+} must end the line"}
			}
			num := strings.TrimSuffix(line[i+1:i+end], "+")
			n, err := strconv.Atoi(num)
			if err != nil || n < 0 {
				return name, nil, protoError{msg: "bad literal length"}
			}
			if n > limit-used {
				return name, nil, protoError{msg: fmt.Sprintf("literal of %d bytes is larger than the %d bytes a command may have here", n, limit), fatal: true}
			}
			used += n
			lit, err := readLiteral(r, n)
			if err != nil {
				return "", nil, err
			}
			args = append(args, lit)
			if line, err = readLine(r); err != nil {
				return "", nil, err
			}
			if used += len(line); used > limit {
				return name, nil, protoError{msg: "command too long", fatal: true}
			}
			i = 0
		default:
			// Bare numbers (HAVESPACE size) and atoms are taken as they are.
			s := i
			for i < len(line) && line[i] != ' ' {
				i++
			}
			args = append(args, line[s:i])
		}
	}
}

func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, chunk...)
		if len(b) > maxLine {
			return "", protoError{msg: "line too long", fatal: true}
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

// readLiteral reads n bytes, growing its buffer as they arrive rather
// than by what was announced.
func readLiteral(r *bufio.Reader, n int) (string, error) {
	var b strings.Builder
	b.Grow(min(n, literalChunks))
	buf := make([]byte, min(n, literalChunks))
	for n > 0 {
		m, err := ioReadFull(r, buf[:min(n, len(buf))])
		b.Write(buf[:m])
		n -= m
		if err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

func ioReadFull(r *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// quote writes s as a ManageSieve string: quoted when short and plain,
// else a literal.
func quote(s string) string {
	if len(s) < 1024 && !strings.ContainsAny(s, "\r\n\"\\") {
		return `"` + s + `"`
	}
	return fmt.Sprintf("{%d}\r\n%s", len(s), s)
}
