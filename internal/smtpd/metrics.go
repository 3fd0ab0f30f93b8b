package smtpd

import (
	"errors"

	"github.com/emersion/go-smtp"

	"boxmail/internal/metrics"
)

// protocol is the server's label in the session and login metrics.
func (s *Server) protocol() string {
	if s.o.Mode == Submission {
		return "submission"
	}
	return "smtp"
}

// receivedResult is a DATA command's result in
// boxmail_messages_received_total: accepted (250), deferred (4xx) or
// rejected (5xx, or anything else that is not a reply).
func receivedResult(err error) string {
	if err == nil {
		return metrics.Accepted
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code/100 == 4 {
		return metrics.Deferred
	}
	return metrics.Rejected
}
