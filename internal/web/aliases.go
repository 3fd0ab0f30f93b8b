package web

// /admin/aliases and /admin/api/aliases: the aliases (and catch-alls)
// with the automatic role addresses of each domain; add, edit in place,
// remove, through admin.Service as the boxmail alias commands.

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"boxmail/internal/admin"
	"boxmail/internal/delivery"
	"boxmail/internal/store"
)

type aliasInfo struct {
	Address   string   `json:"address"`
	Targets   []string `json:"targets"`
	Permit    []string `json:"permit"`
	Automatic bool     `json:"automatic,omitempty"`
	CatchAll  bool     `json:"catch_all,omitempty"`
	// DomainAlias: "@old" -> "@new", x@old goes to x@new.
	DomainAlias bool `json:"domain_alias,omitempty"`
}

// listAliases returns the aliases, then the automatic role addresses of
// each domain that no alias overrides.
func (s *Server) listAliases(ctx context.Context) ([]aliasInfo, error) {
	as, err := s.o.Store.Aliases(ctx)
	if err != nil {
		return nil, err
	}
	out := []aliasInfo{}
	have := map[string]bool{}
	for _, a := range as {
		have[a.Address] = true
		_, dom := delivery.DomainAliasTarget(a)
		out = append(out, aliasInfo{Address: a.Address, Targets: nonNil(a.Targets), Permit: nonNil(a.Permit),
			CatchAll: strings.HasPrefix(a.Address, "@") && !dom, DomainAlias: dom})
	}
	ds, err := s.o.Store.Domains(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		adm, err := s.o.Store.FirstAdmin(ctx, d.Name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		for _, r := range delivery.RoleLocals {
			addr := r + "@" + d.Name
			if !have[addr] {
				out = append(out, aliasInfo{Address: addr, Targets: []string{adm.Email}, Permit: []string{}, Automatic: true})
			}
		}
	}
	return out, nil
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func (s *Server) addAlias(ctx context.Context, address string, targets, permit []string) error {
	al, err := aliasInput(address, targets, permit)
	if err != nil {
		return err
	}
	return classify(s.o.Admin.AddAlias(ctx, al))
}

// aliasInput checks an alias form or API body: the address, at least one
// target, and the permitted senders.
func aliasInput(address string, targets, permit []string) (store.Alias, error) {
	address = strings.TrimSpace(address)
	if address == "" {
		return store.Alias{}, badf("address is missing")
	}
	addr, err := admin.ParseAliasAddress(address)
	if err != nil {
		return store.Alias{}, badf("address: %v", err)
	}
	ts, err := parseAliasTargets(targets)
	if err != nil {
		return store.Alias{}, err
	}
	if len(ts) == 0 {
		return store.Alias{}, badf("targets are missing: give at least one address the mail goes to")
	}
	ps, err := parseAddrList("permitted sender", permit)
	if err != nil {
		return store.Alias{}, err
	}
	return store.Alias{Address: addr, Targets: ts, Permit: ps}, nil
}

// parseAliasTargets parses comma-separated targets: addresses, or
// "@domain" for a domain alias (admin checks the rest).
func parseAliasTargets(l []string) ([]string, error) {
	var out []string
	for _, x := range l {
		for _, y := range strings.Split(x, ",") {
			if y = strings.TrimSpace(y); y == "" {
				continue
			}
			t, err := admin.ParseAliasTarget(y)
			if err != nil {
				return nil, badf("target: %v", err)
			}
			out = append(out, t)
		}
	}
	return out, nil
}

func (s *Server) removeAlias(ctx context.Context, address string) error {
	addr, err := admin.ParseAliasAddress(strings.TrimSpace(address))
	if err != nil {
		return badf("address: %v", err)
	}
	return classify(s.o.Admin.RemoveAlias(ctx, addr))
}

func (s *Server) setAlias(ctx context.Context, address string, targets, permit []string) error {
	al, err := aliasInput(address, targets, permit)
	if err != nil {
		return err
	}
	return classify(s.o.Admin.SetAlias(ctx, al))
}

func (s *Server) apiSetAlias(r *http.Request, _ string) (any, error) {
	var in struct {
		Targets []string `json:"targets"`
		Permit  []string `json:"permit"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	return nil, s.setAlias(r.Context(), r.PathValue("address"), in.Targets, in.Permit)
}

// aliasesForm performs an op of the /admin/aliases forms.
func aliasesForm(s *Server, r *http.Request, _ string) (string, error) {
	ctx, addr := r.Context(), strings.TrimSpace(r.PostFormValue("address"))
	targets, permit := []string{r.PostFormValue("targets")}, []string{r.PostFormValue("permit")}
	switch r.PostFormValue("op") {
	case "add":
		return "Added alias " + strings.ToLower(addr) + ".", s.addAlias(ctx, addr, targets, permit)
	case "edit":
		return "Changed alias " + addr + ".", s.setAlias(ctx, addr, targets, permit)
	case "remove":
		return "Removed alias " + addr + ".", s.removeAlias(ctx, addr)
	}
	return "", badf("unknown action")
}

// The /admin/api/aliases calls (docs/api.md).

func (s *Server) apiAliases(r *http.Request, _ string) (any, error) {
	return s.listAliases(r.Context())
}

func (s *Server) apiAddAlias(r *http.Request, _ string) (any, error) {
	var in struct {
		Address string   `json:"address"`
		Targets []string `json:"targets"`
		Permit  []string `json:"permit"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	return nil, s.addAlias(r.Context(), in.Address, in.Targets, in.Permit)
}

func (s *Server) apiRemoveAlias(r *http.Request, _ string) (any, error) {
	return nil, s.removeAlias(r.Context(), r.PathValue("address"))
}
