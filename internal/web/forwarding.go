package web

// Forwarding on /account: the user adds, disables, enables and deletes
// their forwarding rules (the seed document's "Forward to OldMailProvider
// and retain"), through the same admin.Service calls as 'boxmail forward'.
// The account's own JSON API is under /account/api/ (docs/api.md):
// session cookie plus X-CSRF-Token, or HTTP Basic with the user's own
// address and password.

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"boxmail/internal/admin"
	"boxmail/internal/store"
)

type forwardList = []admin.ForwardRule

// forwardsOf lists the account's forwarding rules for its page; an error
// is logged and shows as none.
func (s *Server) forwardsOf(ctx context.Context, email string) forwardList {
	l, err := s.o.Admin.ForwardRules(ctx, email)
	if err != nil {
		s.log.Error("listing forwarding rules", "user", email, "err", err)
	}
	return l
}

func (s *Server) addForward(ctx context.Context, email, to, name string, keep bool) error {
	if strings.TrimSpace(to) == "" {
		return badf("to is missing: the address to forward to")
	}
	a, err := parseAddr("to", to)
	if err != nil {
		return err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = admin.DefaultForwardName
	}
	_, err = s.o.Admin.AddForward(ctx, email, a.String(), name, keep)
	if err == nil {
		s.log.Info("forwarding rule added on the web", "user", email, "rule", name)
	}
	return classify(err)
}

func (s *Server) changeForward(ctx context.Context, email, name, op string) error {
	if strings.TrimSpace(name) == "" {
		return badf("name is missing: which rule")
	}
	_, err := s.o.Admin.ChangeForward(ctx, email, name, op)
	if err == nil {
		s.log.Info("forwarding rule changed on the web", "user", email, "rule", name, "op", op)
	}
	return classify(err)
}

// forwardPost is the /account page's forwarding form.
func (s *Server) forwardPost(w http.ResponseWriter, r *http.Request, sess *session, a store.Account) {
	ctx, name := r.Context(), r.PostFormValue("name")
	var msg string
	var err error
	switch op := r.PostFormValue("op"); op {
	case "add":
		keep := r.PostFormValue("keep") == "on"
		err = s.addForward(ctx, a.Email, r.PostFormValue("to"), name, keep)
		msg = "Your mail is now forwarded to " + strings.ToLower(strings.TrimSpace(r.PostFormValue("to")))
		if keep {
			msg += ", and a copy stays here."
		} else {
			msg += " and not kept here."
		}
	case "disable", "enable", "remove":
		err = s.changeForward(ctx, a.Email, name, op)
		msg = map[string]string{"disable": "The rule is off: your mail stays here only.", "enable": "The rule is on again.", "remove": "The rule is deleted."}[op]
	default:
		err = badf("unknown action")
	}
	s.flashChange(sess, "forwarding", a.Email, msg, err)
	http.Redirect(w, r, "/account#forwarding", http.StatusSeeOther)
}

// The /account/api/forwards calls (docs/api.md): each acts on the
// account making the request and answers its rules.

func (s *Server) apiForwards(r *http.Request, me string) (any, error) {
	return s.o.Admin.ForwardRules(r.Context(), me)
}

func (s *Server) apiAddForward(r *http.Request, me string) (any, error) {
	var in struct {
		To   string `json:"to"`
		Name string `json:"name"`
		Keep *bool  `json:"keep"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	keep := in.Keep == nil || *in.Keep
	if err := s.addForward(r.Context(), me, in.To, in.Name, keep); err != nil {
		return nil, err
	}
	return s.o.Admin.ForwardRules(r.Context(), me)
}

// apiChangeForward is the call that does op (disable, enable, remove) to
// the rule named in the path.
func (s *Server) apiChangeForward(op string) apiHandler {
	return func(r *http.Request, me string) (any, error) {
		if err := s.changeForward(r.Context(), me, r.PathValue("name"), op); err != nil {
			return nil, err
		}
		return s.o.Admin.ForwardRules(r.Context(), me)
	}
}

// flashChange tells the user how a change from one of their /account
// forms went: done (msg), refused with the reason (nothing changed), or
// failed on the server (logged, answered generically).
func (s *Server) flashChange(sess *session, what, user, msg string, err error) {
	var bi *badInput
	switch {
	case errors.As(err, &bi):
		s.sessions.setFlash(sess, strings.ToUpper(bi.msg[:1])+bi.msg[1:]+"; nothing changed.", false)
	case err != nil:
		s.log.Error(what+" change failed", "user", user, "err", err)
		s.sessions.setFlash(sess, "That did not work because of a problem on the server; its log has the details.", false)
	default:
		s.sessions.setFlash(sess, msg, true)
	}
}
