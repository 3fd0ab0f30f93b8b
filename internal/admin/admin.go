// Package admin is the one place where every change to admin or
// self-service state is checked and made: domains, users (password,
// admin right, disabled, quota), aliases, two-step login and app
// passwords, forwarding and vacation rules in an account's Sieve script,
// DKIM keys, custom DNS records, login blocks, and the outbound queue's
// retry and remove. The boxmail command, the web pages and the JSON API
// all call a Service; nothing else writes admin state.
//
// Input a person must correct is an *InputError (its message is meant
// for people); a missing or duplicate thing is store.ErrNotFound or
// store.ErrExists (wrapped); anything else is an internal error the
// caller logs. Who may make a change (an admin, or the account itself)
// is checked by the caller that knows the session; the rules that hold
// whoever asks (a strong password, an alias that leads somewhere, a DKIM
// key published before it signs) are checked here.
//
// It is not the mail path (delivery commits messages and drains the
// queue; admin only asks it to retry or remove an entry) and it does not
// read the config file: cmd/boxmail passes what it needs in Options.
package admin

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"boxmail/internal/delivery"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/store"
)

// Options configure a Service. Only Store is required.
type Options struct {
	Store *store.Store
	// Deliverer resolves alias targets and the addresses an account may
	// send as; nil: one over Store.
	Deliverer *delivery.Deliverer
	// Queue is the running outbound queue: a retry kicks it and a removal
	// goes through it. nil: retries wait for the queue's next round, and a
	// removal bounces through Deliverer (the command line, no server).
	Queue  *delivery.Queue
	Logger *slog.Logger
	// Hostname is the box's name: the bounce of a removed queue entry
	// comes from it, and DNS checks expect it.
	Hostname string
	// Resolvers are the DNS servers the checks ask (the config's
	// resolvers); none: the system's resolver.
	Resolvers []string
	// Records builds the box's DNS record set and its input (the
	// migration checklist compares them with public DNS); nil: the
	// checklist is not available.
	Records func(ctx context.Context) (*dnsrecords.Set, dnsrecords.Input, error)
	// NewDomainKeys makes the DKIM keys of a domain being added; nil:
	// DefaultDomainKeys.
	NewDomainKeys func(domain string) ([]store.DKIMKey, error)
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Service makes admin and self-service changes.
type Service struct {
	o   Options
	st  *store.Store
	d   *delivery.Deliverer
	log *slog.Logger
}

// New returns a Service.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Deliverer == nil {
		o.Deliverer = delivery.New(delivery.Options{Store: o.Store, Logger: o.Logger, Hostname: o.Hostname, SignBounces: true})
	}
	if o.NewDomainKeys == nil {
		o.NewDomainKeys = DefaultDomainKeys
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{o: o, st: o.Store, d: o.Deliverer, log: o.Logger}
}

// InputError is a request the caller must correct (a weak password, an
// alias target that does not exist); its message is meant for people.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func inputErrorf(format string, a ...any) error { return &InputError{fmt.Sprintf(format, a...)} }
