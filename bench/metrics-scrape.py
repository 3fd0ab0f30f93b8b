#!/usr/bin/env python3
"""Idle RSS of a quickstart box and the CPU cost of one /metrics scrape.

usage: bench/metrics-scrape.py BOXMAIL_BINARY [--no-metrics]

Starts 'BOXMAIL quickstart' in a temporary dir on free loopback ports
(never the fixed 2525/1143/...), waits 15 s, samples VmRSS five times,
then (unless --no-metrics) scrapes /metrics 3000 times over one
keep-alive connection, as Prometheus does, and prints the box's CPU time
(utime+stime from /proc/PID/stat, idle CPU subtracted) per scrape.
"""
import http.client, os, socket, subprocess, sys, tempfile, time


def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            if l.startswith("VmRSS"):
                return int(l.split()[1])


def cpu_s(pid):
    t = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(t[11]) + int(t[12])) / os.sysconf("SC_CLK_TCK")


def main():
    binary, metrics = sys.argv[1], "--no-metrics" not in sys.argv
    d = tempfile.mkdtemp() + "/box"
    args = [binary, "quickstart", "--dir", d]
    for n in ["smtp", "submission", "submissions", "imap", "imaps", "dns", "http", "https", "pop3", "pop3s", "managesieve"]:
        args += ["--%s-port" % n, str(free())]
    mp = free()
    if metrics:
        args += ["--metrics-port", str(mp)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in p.stdout:
            if "Ctrl-C" in line:
                break
        time.sleep(15)
        rss = []
        for _ in range(5):
            rss.append(rss_kib(p.pid)); time.sleep(1)
        print("idle RSS KiB:", rss, "= %.1f MiB" % (max(rss) / 1024))
        if not metrics:
            return
        c = http.client.HTTPConnection("127.0.0.1", mp)
        def scrape():
            c.request("GET", "/metrics"); r = c.getresponse(); return r.read()
        for _ in range(50):
            body = scrape()
        c0 = cpu_s(p.pid); time.sleep(5); idle = (cpu_s(p.pid) - c0) / 5
        n, c0, t0 = 3000, cpu_s(p.pid), time.time()
        for _ in range(n):
            scrape()
        c1, t1 = cpu_s(p.pid), time.time()
        print("scrape: %d bytes, %d series; CPU %.0f us, wall %.0f us per scrape" % (
            len(body), sum(1 for l in body.decode().splitlines() if l and not l.startswith("#")),
            (c1 - c0 - idle * (t1 - t0)) / n * 1e6, (t1 - t0) / n * 1e6))
        time.sleep(5)
        print("RSS after the scrapes: %.1f MiB" % (rss_kib(p.pid) / 1024))
    finally:
        p.send_signal(2); p.wait()


main()
