package metrics

import (
	"bytes"
	"os"
	"strconv"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// processCollector exports the process's resident memory and CPU time
// under the standard names. client_golang's own process collector reads
// five files under /proc on each scrape (netstat among them), most of a
// scrape's cost; this one makes two syscalls: a pread of /proc/self/statm,
// kept open, and getrusage.
type processCollector struct {
	statm *os.File // nil: not Linux
}

func newProcessCollector() processCollector {
	f, err := os.Open("/proc/self/statm")
	if err != nil {
		return processCollector{}
	}
	return processCollector{statm: f}
}

var (
	rssDesc = prometheus.NewDesc("process_resident_memory_bytes", "Resident memory size in bytes.", nil, nil)
	cpuDesc = prometheus.NewDesc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", nil, nil)
)

func (processCollector) Describe(ch chan<- *prometheus.Desc) { ch <- rssDesc; ch <- cpuDesc }

func (p processCollector) Collect(ch chan<- prometheus.Metric) {
	if rss, ok := p.residentBytes(); ok {
		ch <- prometheus.MustNewConstMetric(rssDesc, prometheus.GaugeValue, float64(rss))
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
		ch <- prometheus.MustNewConstMetric(cpuDesc, prometheus.CounterValue, cpu)
	}
}

// residentBytes reads the resident set size from /proc/self/statm
// (Linux; ok false elsewhere).
func (p processCollector) residentBytes() (int64, bool) {
	if p.statm == nil {
		return 0, false
	}
	var buf [128]byte
	n, err := p.statm.ReadAt(buf[:], 0)
	if n == 0 && err != nil {
		return 0, false
	}
	f := bytes.Fields(buf[:n])
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}
