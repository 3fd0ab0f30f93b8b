package main

import (
	"io"
	"log/slog"

	"boxmail/internal/config"
)

// newLogger is the server's logger: records from cfg.LogLevel up, in the
// format of log_format (slog's text or JSON handler), on w (stderr, which
// journald collects under systemd).
func newLogger(w io.Writer, cfg config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
