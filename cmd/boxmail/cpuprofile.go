package main

import (
	"errors"
	"os"
	"runtime/debug"
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

// backupMemoryLimit is the Go heap's soft limit in 'backup run' and
// 'restore' (unless GOMEMLIMIT sets one): their live memory is the
// workers' buffers (8 x 2 x 1.06 MiB) and the snapshot's file list, and
// without a limit the collector lets the heap grow to twice that between
// cycles, which put the process over the 64 MiB the backup benchmark
// allows.
const backupMemoryLimit = 32 << 20

// limitMemory sets backupMemoryLimit unless GOMEMLIMIT is set.
func limitMemory(e *env) {
	if e.getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(backupMemoryLimit)
	}
}
