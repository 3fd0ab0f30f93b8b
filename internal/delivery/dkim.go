package delivery

import (
	"context"
	"crypto"
	"strings"
	"sync"

	"boxmail/internal/mailauth"
)

// signerCache keeps parsed DKIM keys by their PEM text.
type signerCache struct {
	mu sync.Mutex
	m  map[string]crypto.Signer // by PEM
}

func (c *signerCache) get(pem string) (crypto.Signer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[pem]; ok {
		return s, nil
	}
	s, err := mailauth.ParseDKIMKey(pem)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]crypto.Signer{}
	}
	c.m[pem] = s
	return s, nil
}

// DKIMSign returns the DKIM-Signature fields for msg signed with the
// active keys of the hosted domain that is, or is the closest parent of,
// domain (so a bounce from MAILER-DAEMON@mail.example.net is signed by
// example.net). It returns nil when no hosted domain matches or it has
// no usable active key. Parsed keys are cached: parsing an RSA key costs
// a quarter of signing a small message.
func (d *Deliverer) DKIMSign(ctx context.Context, msg []byte, domain string) ([]byte, error) {
	domains, err := d.st.Domains(ctx)
	if err != nil {
		return nil, err
	}
	domain = strings.ToLower(domain)
	best := ""
	for _, hd := range domains {
		if (domain == hd.Name || strings.HasSuffix(domain, "."+hd.Name)) && len(hd.Name) > len(best) {
			best = hd.Name
		}
	}
	if best == "" {
		return nil, nil
	}
	keys, err := d.st.DKIMKeys(ctx, best)
	if err != nil {
		return nil, err
	}
	var sk []mailauth.SigningKey
	for _, k := range keys {
		if !k.Active {
			continue
		}
		s, err := d.signers.get(k.Private)
		if err != nil {
			d.log.Error("unusable DKIM key", "domain", best, "selector", k.Selector, "err", err)
			continue
		}
		sk = append(sk, mailauth.SigningKey{Selector: k.Selector, Signer: s})
	}
	return mailauth.Sign(msg, best, sk)
}
