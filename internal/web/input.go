package web

// Input checks shared by the HTML forms and the JSON API (users.go,
// aliases.go, domains.go, queue.go, forwarding.go): the error a requester
// must correct (badInput) and how admin's and store's errors become one.

import (
	"errors"
	"fmt"
	"strings"

	"boxmail/internal/admin"
	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

// badInput is an error the requester must correct: HTTP 400 with its
// message (404 when notFound, status when set).
type badInput struct {
	msg      string
	notFound bool
	status   int
}

func (e *badInput) Error() string { return e.msg }

func badf(format string, a ...any) error { return &badInput{msg: fmt.Sprintf(format, a...)} }

// classify turns the errors of admin and store into badInput; other
// errors stay internal.
func classify(err error) error {
	var ie *admin.InputError
	var bi *badInput
	switch {
	case err == nil, errors.As(err, &bi):
		return err
	case errors.As(err, &ie):
		return &badInput{msg: ie.Msg}
	case errors.Is(err, store.ErrNotFound):
		return &badInput{msg: err.Error(), notFound: true}
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrDomainNotEmpty):
		return &badInput{msg: err.Error()}
	}
	return err
}

func parseAddr(field, s string) (delivery.Address, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return delivery.Address{}, badf("%s is missing", field)
	}
	a, err := delivery.ParseAddress(s)
	if err != nil {
		return a, badf("%s: %v", field, err)
	}
	return a, nil
}

func parseAddrList(field string, l []string) ([]string, error) {
	var out []string
	for _, x := range l {
		for _, y := range strings.Split(x, ",") {
			if y = strings.TrimSpace(y); y == "" {
				continue
			}
			a, err := parseAddr(field, y)
			if err != nil {
				return nil, err
			}
			out = append(out, a.String())
		}
	}
	return out, nil
}
