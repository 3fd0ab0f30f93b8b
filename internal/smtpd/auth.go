package smtpd

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"boxmail/internal/mailauth"
)

// loginServer is the server side of the obsolete but still widely used
// LOGIN SASL mechanism (draft-murchison-sasl-login): the server asks for
// "Username:" then "Password:". go-sasl ships only the client side.
type loginServer struct {
	check    func(user, pass string) error
	user     string
	step     int
	finished bool
}

func newLoginServer(check func(user, pass string) error) sasl.Server {
	return &loginServer{check: check}
}

func (l *loginServer) Next(resp []byte) (challenge []byte, done bool, err error) {
	if l.finished {
		return nil, true, smtp.ErrAuthFailed
	}
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil { // no initial response
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.user = string(resp)
		l.step = 2
		return []byte("Password:"), false, nil
	default:
		l.finished = true
		return nil, true, l.check(l.user, string(resp))
	}
}

// senderFields are the header fields that name a message's author or
// sender (RFC 5322 3.6.2, 3.6.6): on submission each of their addresses
// must be one the user may send as.
var senderFields = []string{"From", "Sender", "Resent-From", "Resent-Sender"}

// fieldAddress is one address of a sender field.
type fieldAddress struct {
	Field, Address string
}

// headerSenderAddresses returns the addresses in the message's
// senderFields, in header order; the number of From fields is returned
// too. A field that does not parse is an error naming it.
func headerSenderAddresses(msg []byte) (addrs []fieldAddress, froms int, err error) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
	if err != nil {
		return nil, 0, fmt.Errorf("malformed header section")
	}
	fields := h.Fields()
	for fields.Next() {
		name := ""
		for _, n := range senderFields {
			if strings.EqualFold(fields.Key(), n) {
				name = n
			}
		}
		if name == "" {
			continue
		}
		if name == "From" {
			froms++
		}
		list, err := mailauth.ParseAddressList(fields.Value())
		if err != nil {
			return nil, 0, fmt.Errorf("malformed %s: %v", name, strings.TrimPrefix(err.Error(), "mail: "))
		}
		if len(list) == 0 {
			return nil, 0, fmt.Errorf("%s names no address", name)
		}
		for _, a := range list {
			addrs = append(addrs, fieldAddress{name, a.Address})
		}
	}
	return addrs, froms, nil
}
