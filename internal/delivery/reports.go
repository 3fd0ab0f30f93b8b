package delivery

import (
	"context"
	"encoding/json"
	"strings"

	"boxmail/internal/reports"
	"boxmail/internal/store"
)

// isReportAddress tells the address the box publishes for DMARC and TLS
// reports (rua=mailto:postmaster@DOMAIN in dnsrecords).
func isReportAddress(rcpt string) bool {
	local, _, _ := strings.Cut(rcpt, "@")
	return strings.EqualFold(local, "postmaster")
}

// keepReports keeps the DMARC and TLS reports that a message delivered to
// a postmaster carries about the box's own domains, for 'boxmail dmarc
// report' and the admin pages. The message itself was delivered like any
// other, so a report that cannot be read is only logged: the admin still
// has the mail.
func (d *Deliverer) keepReports(ctx context.Context, data []byte) {
	rs, err := reports.FromMessage(data)
	if err != nil {
		d.log.Warn("a report message that cannot be read; delivered, not summed up", "err", err)
	}
	for _, r := range rs {
		if local, err := d.IsLocal(ctx, r.Domain); err != nil || !local {
			d.log.Info("a report about a domain the box does not host; not kept", "kind", r.Kind, "org", r.Org, "domain", r.Domain)
			continue
		}
		js, err := json.Marshal(r)
		if err != nil {
			d.log.Warn("keeping a report", "err", err)
			continue
		}
		added, err := d.st.AddReceivedReport(ctx, store.ReceivedReport{Kind: string(r.Kind), Org: r.Org, ReportID: r.ID, Domain: r.Domain, Begin: r.Begin, End: r.End, Data: js})
		if err != nil {
			d.log.Warn("keeping a report", "kind", r.Kind, "org", r.Org, "err", err)
			continue
		}
		d.log.Info("report kept", "kind", r.Kind, "org", r.Org, "domain", r.Domain, "rows", len(r.Rows), "new", added)
	}
}
