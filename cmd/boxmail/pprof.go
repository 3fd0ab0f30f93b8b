package main

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
)

// startProfiler serves Go's profiler on the address in BOXMAIL_PPROF (for
// example 127.0.0.1:6060) when that is set: an opt-in of serve and
// quickstart for performance work (bench/README.md), off by default. It
// uses a mux of its own, never one of the box's public servers.
func startProfiler(e *env, log *slog.Logger) {
	addr := e.getenv("BOXMAIL_PPROF")
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Warn("profiler listening (BOXMAIL_PPROF)", "addr", addr)
	go func() {
		if err := http.ListenAndServe(addr, mux); err != nil {
			log.Error("profiler", "err", err)
		}
	}()
}
