package admin

import (
	"context"

	"boxmail/internal/sieve"
)

// CheckSieveScript is the check of a script the account saves from a
// path that knows the account (the web, the CLI): it parses, passes
// sieve's Validate, and each vacation :from is an address the account
// may send as. Its errors are *InputError values naming line:col.
func (s *Service) CheckSieveScript(ctx context.Context, account, src string) error {
	sc, err := sieve.Parse(src)
	if err == nil {
		err = sc.Validate()
	}
	if err != nil {
		return &InputError{Msg: err.Error()}
	}
	for _, f := range sc.Senders() {
		ok, err := s.d.MayUseSender(ctx, account, f.Address)
		if err != nil {
			return err
		}
		if !ok {
			return inputErrorf("line %d:%d: vacation :from %s is not an address %s may send as", f.Pos.Line, f.Pos.Col, f.Address, account)
		}
	}
	return nil
}
