package delivery

// DMARC aggregate reports (RFC 7489 7.2) the box sends about the mail it
// received. smtpd hands each inbound message's evaluation to the Txn
// (SetDMARC), which counts it in the delivery's own transaction, or, for
// a refused message, to RecordDMARC. Once a day (reports.go's daily
// pass, with TLS-RPT) each policy domain's rows of a past day become one
// report, gzipped XML in a mail from postmaster@ of the box's primary
// domain, DKIM-signed, queued to the domain's mailto: rua= addresses:
//   - an address outside the policy domain's organizational domain gets
//     the report only if POLICY._report._dmarc.ADDRESSDOMAIN publishes
//     v=DMARC1 (RFC 7489 7.1);
//   - an address whose !size limit the message exceeds is skipped;
//   - an address in one of the box's own domains is skipped, and mail
//     whose From is one of the box's own domains is never counted
//     (smtpd): the box does not report to itself, so no report loop.
// A domain with no address left has its rows dropped. Rows never
// reported are dropped after dmarcKeepDays.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"boxmail/internal/mailauth"
	"boxmail/internal/reports"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// dmarcKeepDays is how long unreported rows are kept.
const dmarcKeepDays = 14

// SetDMARC counts the message's DMARC evaluation for the aggregate
// report, in the transaction of Commit.
func (t *Txn) SetDMARC(e store.DMARCEvaluation) { t.dmarc = &e }

// RecordDMARC counts the evaluation of a message that was refused (no
// delivery to ride in). A failure is logged: the refusal stands.
func (d *Deliverer) RecordDMARC(ctx context.Context, e store.DMARCEvaluation) {
	d.recordDMARCAlone(ctx, &e)
}

func (d *Deliverer) recordDMARCAlone(ctx context.Context, e *store.DMARCEvaluation) {
	if e == nil {
		return
	}
	if err := d.st.AddDMARCEvaluation(ctx, *e); err != nil {
		d.log.Warn("counting a DMARC evaluation for the aggregate report", "domain", e.Policy.Domain, "err", err)
	}
}

// primaryDomain is the hosted domain the box's reports come from: the
// one the hostname is in, else the first.
func (d *Deliverer) primaryDomain(ctx context.Context) (string, error) {
	doms, err := d.HostedDomains(ctx)
	if err != nil {
		return "", err
	}
	if len(doms) == 0 {
		return "", fmt.Errorf("no hosted domain to send reports from")
	}
	h := strings.ToLower(strings.TrimSuffix(d.hostname, "."))
	best := ""
	for _, x := range doms {
		if (h == x || strings.HasSuffix(h, "."+x)) && len(x) > len(best) {
			best = x
		}
	}
	if best == "" {
		best = doms[0]
	}
	return best, nil
}

// sendDMARCReports queues the reports of the rows of the days up to
// until (inclusive) and returns how many it queued; now ends the period
// of a report of today.
func (q *Queue) sendDMARCReports(ctx context.Context, until string, now time.Time) int {
	if err := q.d.st.PruneDMARCRecords(ctx, now.AddDate(0, 0, -dmarcKeepDays).Format(time.DateOnly)); err != nil {
		q.log.Error("dropping old DMARC rows", "err", err)
	}
	rows, err := q.d.st.DMARCRecords(ctx, until)
	if err != nil {
		q.log.Error("reading DMARC rows", "err", err)
		return 0
	}
	from, err := q.d.primaryDomain(ctx)
	if err != nil {
		q.log.Error("DMARC reports", "err", err)
		return 0
	}
	sent := 0
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].Policy.Day == rows[i].Policy.Day && rows[j].Policy.Domain == rows[i].Policy.Domain {
			j++
		}
		ok, err := q.sendDMARCReport(ctx, from, rows[i:j], now)
		switch {
		case errors.Is(err, store.ErrReported):
			q.log.Info("DMARC rows reported meanwhile by another process", "domain", rows[i].Policy.Domain, "day", rows[i].Policy.Day)
		case err != nil:
			q.log.Warn("DMARC report not sent; tried again tomorrow", "domain", rows[i].Policy.Domain, "day", rows[i].Policy.Day, "err", err)
		case ok:
			sent++
		}
		i = j
	}
	return sent
}

// sendDMARCReport queues the report of one domain's day (rows) and
// settles the rows; false when no address could take it.
func (q *Queue) sendDMARCReport(ctx context.Context, from string, rows []store.DMARCEvaluation, now time.Time) (bool, error) {
	pol := rows[0].Policy
	begin, err := time.Parse(time.DateOnly, pol.Day)
	if err != nil {
		return false, err
	}
	end := begin.Add(24 * time.Hour)
	if now.Before(end) {
		end = now.Truncate(time.Second).Add(time.Second) // a report of today, asked for now
	}
	idb := make([]byte, 8)
	if _, err := rand.Read(idb); err != nil {
		return false, err
	}
	id := strings.ReplaceAll(pol.Day, "-", "") + "." + hex.EncodeToString(idb)
	doc, err := reports.BuildDMARC(reports.Reporter{Org: from, Email: "postmaster@" + from}, id,
		reports.Published{Domain: pol.Domain, ADKIM: pol.ADKIM, ASPF: pol.ASPF, P: pol.P, SP: pol.SP, Pct: pol.Pct}, begin, end, dmarcEvaluations(rows))
	if err != nil {
		return false, err
	}
	dests, err := q.dmarcDestinations(ctx, pol)
	if err != nil {
		return false, err
	}
	m := reports.DMARCMail{From: "postmaster@" + from, Submitter: from, Domain: pol.Domain, ID: id, Begin: begin, End: end, Date: now}
	var to []string
	for _, d := range dests {
		m.To = []string{d.addr}
		msg, err := m.Message(doc)
		if err != nil {
			return false, err
		}
		if d.max > 0 && int64(len(msg)) > d.max {
			q.log.Info("DMARC report larger than the address takes; not sent there", "domain", pol.Domain, "to", d.addr, "size", len(msg), "limit", d.max)
			continue
		}
		to = append(to, d.addr)
	}
	if len(to) == 0 {
		q.log.Info("DMARC rows dropped: no address takes the report", "domain", pol.Domain, "day", pol.Day, "rua", strings.Join(pol.RUA, ","))
		return false, q.d.st.SettleDMARCReport(ctx, rows, nil)
	}
	m.To = to
	msg, err := m.Message(doc)
	if err != nil {
		return false, err
	}
	sig, err := q.d.DKIMSign(ctx, msg, from)
	if err != nil {
		q.log.Warn("signing a DMARC report", "err", err)
	}
	msg = append(sig, msg...)
	if err := q.d.st.SettleDMARCReport(ctx, rows, &store.Delivery{Data: msg, Received: now, Sender: "", Remote: to}); err != nil {
		return false, err
	}
	q.log.Info("DMARC report queued", "domain", pol.Domain, "day", pol.Day, "to", strings.Join(to, ","), "rows", len(rows))
	q.Kick()
	return true, nil
}

// dmarcEvaluations are the store's rows as the report's records.
func dmarcEvaluations(rows []store.DMARCEvaluation) []reports.Evaluation {
	out := make([]reports.Evaluation, 0, len(rows))
	for _, r := range rows {
		e := reports.Evaluation{SourceIP: r.SourceIP, HeaderFrom: r.HeaderFrom, Count: r.Count, Disposition: r.Disposition,
			DKIM: r.DKIMEval, SPF: r.SPFEval, Reason: r.Reason,
			SPFAuth: reports.AuthResult{Domain: r.SPFDomain, Scope: r.SPFScope, Result: r.SPFResult}}
		for _, a := range r.DKIM {
			e.DKIMAuth = append(e.DKIMAuth, reports.AuthResult{Domain: a.Domain, Selector: a.Selector, Result: a.Result})
		}
		out = append(out, e)
	}
	return out
}

// ruaDest is one mailto: address of rua= with its size limit (0: none).
type ruaDest struct {
	addr string
	max  int64
}

// dmarcDestinations are the rua= addresses of pol that may get its
// report (see the file comment). A DNS failure of the external check is
// an error: the report waits for the next day.
func (q *Queue) dmarcDestinations(ctx context.Context, pol store.DMARCPolicyRow) ([]ruaDest, error) {
	var out []ruaDest
	for _, uri := range pol.RUA {
		d, ok := parseRUA(uri)
		if !ok {
			continue
		}
		a, err := ParseAddress(d.addr)
		if err != nil {
			continue
		}
		if local, err := q.d.IsLocal(ctx, a.Domain); err != nil {
			return nil, err
		} else if local {
			q.log.Info("DMARC report address in one of the box's own domains; not sent", "domain", pol.Domain, "to", d.addr)
			continue
		}
		if mailauth.OrgDomain(a.Domain) != mailauth.OrgDomain(pol.Domain) {
			ok, err := q.externalReportsAllowed(ctx, pol.Domain, a.Domain)
			if err != nil {
				return nil, err
			}
			if !ok {
				q.log.Info("DMARC report address outside the domain did not agree to take its reports (RFC 7489 7.1)", "domain", pol.Domain, "to", d.addr)
				continue
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// externalReportsAllowed asks POLICY._report._dmarc.DEST for v=DMARC1.
func (q *Queue) externalReportsAllowed(ctx context.Context, policyDomain, destDomain string) (bool, error) {
	if q.o.Resolver == nil {
		return false, nil
	}
	txts, err := resolver.LookupTXT(ctx, q.o.Resolver, policyDomain+"._report._dmarc."+destDomain)
	if resolver.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, t := range txts {
		if v, _, _ := strings.Cut(t, ";"); strings.EqualFold(strings.TrimSpace(v), "v=DMARC1") {
			return true, nil
		}
	}
	return false, nil
}

// parseRUA reads one rua= URI: only mailto:, with an optional !size
// (RFC 7489 6.2: a number with k, m, g or t).
func parseRUA(uri string) (ruaDest, bool) {
	uri = strings.TrimSpace(uri)
	if len(uri) < 7 || !strings.EqualFold(uri[:7], "mailto:") {
		return ruaDest{}, false
	}
	addr, size, hasSize := strings.Cut(uri[7:], "!")
	d := ruaDest{addr: strings.TrimSpace(addr)}
	if hasSize {
		mult := int64(1)
		if n := len(size); n > 0 {
			switch size[n-1] {
			case 'k', 'K':
				mult = 1 << 10
			case 'm', 'M':
				mult = 1 << 20
			case 'g', 'G':
				mult = 1 << 30
			case 't', 'T':
				mult = 1 << 40
			}
			if mult > 1 {
				size = size[:n-1]
			}
		}
		v, err := strconv.ParseInt(size, 10, 64)
		if err != nil || v <= 0 || v > 1<<40/mult {
			return ruaDest{}, false
		}
		d.max = v * mult
	}
	return d, d.addr != ""
}
