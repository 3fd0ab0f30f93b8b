package smtpd

import (
	"strings"
	"testing"
)

// REQUIRETLS (RFC 8689) is offered on submission inside TLS only; the MX
// port refuses the parameter.
func TestRequireTLSIsASubmissionExtensionOnly(t *testing.T) {
	addr, _ := newTestServer(t, Inbound)
	out := talk(t, addr, []byte("EHLO c.example\r\nMAIL FROM:<friend@elsewhere.example> REQUIRETLS\r\nQUIT\r\n"))
	if strings.Contains(out, "250-REQUIRETLS") || !strings.Contains(out, "504 5.5.4") {
		t.Errorf("MX port:\n%s", out)
	}
	addr, _ = newTestServer(t, Submission)
	if out := talk(t, addr, []byte("EHLO c.example\r\nQUIT\r\n")); strings.Contains(out, "REQUIRETLS") {
		t.Errorf("submission offers REQUIRETLS without TLS:\n%s", out)
	}
}
