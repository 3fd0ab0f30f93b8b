package pop3d

import (
	"errors"
	"strconv"
	"strings"
)

// maxLine bounds a command line. RFC 2449 4 allows 255 octets for a
// command; an AUTH PLAIN initial response for a long password needs more.
const maxLine = 4096

var (
	errSyntax = errors.New("syntax error")
	errNumber = errors.New("invalid message number")
)

// parseCommand splits a command line (without CRLF) into its keyword, in
// upper case, and the rest after one space (RFC 1939 3: keywords are
// three or four characters, case-insensitive). The rest is kept whole:
// a PASS argument may contain spaces.
func parseCommand(line string) (cmd, arg string, err error) {
	cmd, arg, _ = strings.Cut(line, " ")
	if len(cmd) < 3 || len(cmd) > 4 {
		return "", "", errSyntax
	}
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return "", "", errSyntax
		}
	}
	return strings.ToUpper(cmd), arg, nil
}

// parseMsgArgs parses the numeric arguments of a command: n of them
// (decimal, without sign), or none at all when optional is set.
func parseMsgArgs(arg string, n int, optional bool) ([]int, error) {
	f := strings.Fields(arg)
	if len(f) == 0 && optional {
		return nil, nil
	}
	if len(f) != n {
		return nil, errSyntax
	}
	out := make([]int, n)
	for i, s := range f {
		if len(s) > 10 || s[0] == '+' || s[0] == '-' {
			return nil, errNumber
		}
		v, err := strconv.Atoi(s)
		if err != nil {
			return nil, errNumber
		}
		out[i] = v
	}
	return out, nil
}

// parsePlain decodes a SASL PLAIN message (RFC 4616 2): authzid NUL
// authcid NUL passwd. The authorization identity must be empty or the
// authentication identity: nobody logs in as someone else.
func parsePlain(b []byte) (user, pass string, err error) {
	parts := strings.Split(string(b), "\x00")
	if len(parts) != 3 || parts[1] == "" {
		return "", "", errSyntax
	}
	if parts[0] != "" && !strings.EqualFold(parts[0], parts[1]) {
		return "", "", errors.New("authorization identity differs")
	}
	return parts[1], parts[2], nil
}
