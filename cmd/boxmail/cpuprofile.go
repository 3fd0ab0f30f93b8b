package main

import (
	"errors"
	"os"
	"runtime/pprof"
)

// cpuProfile writes a CPU profile of a one-shot command ('backup run',
// 'restore') to the file BOXMAIL_CPUPROFILE names, when set: the
// backup benchmark's profiles (bench/results/backup-*.md); BOXMAIL_PPROF
// serves a long-running server's instead. The returned stop ends it.
func cpuProfile(e *env) (stop func() error, err error) {
	path := e.getenv("BOXMAIL_CPUPROFILE")
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
