package delivery

import "context"

// SetAccountDisabled closes or reopens an account, keeping its mail
// (store.SetAccountDisabled); 'boxmail user disable|enable' and the web
// call it. A missing account is store.ErrNotFound.
func (d *Deliverer) SetAccountDisabled(ctx context.Context, a Address, disabled bool) error {
	return d.st.SetAccountDisabled(ctx, a.String(), disabled)
}
