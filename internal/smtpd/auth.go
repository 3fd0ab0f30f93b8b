package smtpd

import (
	"bufio"
	"bytes"
	"fmt"
	"net/mail"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
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

// headerFromAddresses returns the addresses in the message's From:
// header fields.
func headerFromAddresses(msg []byte) ([]string, error) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
	if err != nil {
		return nil, fmt.Errorf("malformed header section")
	}
	var out []string
	fields := h.FieldsByKey("From")
	for fields.Next() {
		list, err := mail.ParseAddressList(fields.Value())
		if err != nil {
			return nil, fmt.Errorf("malformed From: %v", err)
		}
		for _, a := range list {
			out = append(out, a.Address)
		}
	}
	return out, nil
}
