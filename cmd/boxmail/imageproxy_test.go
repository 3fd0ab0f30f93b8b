package main

import (
	"log/slog"
	"net/netip"
	"testing"
)

func TestWebmailImageProxyTestHookTakesLoopbackOnly(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == envImageProxyAllow {
				return v
			}
			return ""
		}
	}
	if o := webmailImageProxy(env(""), log); o.AllowHTTP || o.Allow != nil {
		t.Error("without the variable the proxy is not the production one")
	}
	if o := webmailImageProxy(env("10.0.0.1:80, example.com:80"), log); o.AllowHTTP || o.Allow != nil {
		t.Error("non-loopback addresses were taken")
	}
	o := webmailImageProxy(env("127.0.0.1:8081,10.0.0.1:80"), log)
	if !o.AllowHTTP || o.Allow == nil || !o.Allow(netip.MustParseAddrPort("127.0.0.1:8081")) ||
		o.Allow(netip.MustParseAddrPort("127.0.0.1:8082")) || o.Allow(netip.MustParseAddrPort("10.0.0.1:80")) {
		t.Errorf("allowed: %+v", o)
	}
}
