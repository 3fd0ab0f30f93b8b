package main

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
)

// init serves Go's profiler on the address in BOXMAIL_PPROF (for example
// 127.0.0.1:6060) when that is set and the command is serve or quickstart:
// an opt-in for performance work (bench/README.md), off by default. It
// uses a mux of its own, never one of the box's public servers.
func init() {
	addr := os.Getenv("BOXMAIL_PPROF")
	if addr == "" || len(os.Args) < 2 || (os.Args[1] != "serve" && os.Args[1] != "quickstart") {
		return
	}
	log := slog.Default()
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
