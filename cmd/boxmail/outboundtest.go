package main

import (
	"log/slog"
	"strconv"
	"strings"

	"boxmail/internal/delivery"
)

// envOutboundLoopback is a hook for the outbound TLS tests
// (test/outbound_tls_test.go), never set in production:
// "MXPORT,HTTPSPORT" lets the queue deliver to MX hosts that DNS puts on
// loopback, on port MXPORT instead of 25, and fetch MTA-STS policies
// from loopback on HTTPSPORT instead of 443. Without it, MX hosts and
// policy servers at loopback or private addresses are refused.
const envOutboundLoopback = "BOXMAIL_TEST_OUTBOUND_LOOPBACK"

// outboundTestHook applies envOutboundLoopback to the queue options.
func outboundTestHook(getenv func(string) string, qo *delivery.QueueOptions, log *slog.Logger) {
	v := getenv(envOutboundLoopback)
	if v == "" {
		return
	}
	mx, https, _ := strings.Cut(v, ",")
	mxPort, err1 := strconv.Atoi(strings.TrimSpace(mx))
	httpsPort, err2 := strconv.Atoi(strings.TrimSpace(https))
	if err1 != nil || err2 != nil || mxPort < 1 || mxPort > 65535 || httpsPort < 1 || httpsPort > 65535 {
		log.Error("ignored: want MXPORT,HTTPSPORT", "env", envOutboundLoopback, "value", v)
		return
	}
	log.Warn("test mode: outbound mail goes to MX hosts on loopback, MTA-STS policies are fetched from loopback", "env", envOutboundLoopback, "value", v)
	qo.AllowLoopback, qo.Port, qo.MTASTSPort = true, mxPort, httpsPort
}
