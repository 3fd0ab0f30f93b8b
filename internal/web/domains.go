package web

// /admin/domains and /admin/api/domains: the hosted domains, added and
// removed through admin.Service (which makes their DKIM keys).

import (
	"context"
	"net/http"
	"strings"

	"boxmail/internal/delivery"
)

func (s *Server) addDomain(ctx context.Context, name string) error {
	if strings.TrimSpace(name) == "" {
		return badf("domain is missing")
	}
	d, err := delivery.ParseHostedDomain(strings.TrimSpace(name))
	if err != nil {
		return badf("domain: %v", err)
	}
	return classify(s.o.Admin.AddDomain(ctx, d))
}

func (s *Server) removeDomain(ctx context.Context, name string) error {
	d, err := delivery.ParseHostedDomain(strings.TrimSpace(name))
	if err != nil {
		return badf("domain: %v", err)
	}
	return classify(s.o.Admin.RemoveDomain(ctx, d))
}

func domainsForm(s *Server, r *http.Request, _ string) (string, error) {
	ctx, d := r.Context(), strings.TrimSpace(r.PostFormValue("domain"))
	switch r.PostFormValue("op") {
	case "add":
		return "Added " + strings.ToLower(d) + ". Publish its DNS records (External DNS).", s.addDomain(ctx, d)
	case "remove":
		return "Removed " + d + ".", s.removeDomain(ctx, d)
	}
	return "", badf("unknown action")
}

// The /admin/api/domains calls (docs/api.md).

func (s *Server) apiDomains(r *http.Request, _ string) (any, error) {
	ds, err := s.o.Store.Domains(r.Context())
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out, err
}

func (s *Server) apiAddDomain(r *http.Request, _ string) (any, error) {
	var in struct {
		Domain string `json:"domain"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	return nil, s.addDomain(r.Context(), in.Domain)
}

func (s *Server) apiRemoveDomain(r *http.Request, _ string) (any, error) {
	return nil, s.removeDomain(r.Context(), r.PathValue("domain"))
}
