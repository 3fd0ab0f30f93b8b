#!/usr/bin/env bash
# Queries per second of boxmail's authoritative DNS server, measured with
# dnsperf (Debian package dnsperf) over UDP on loopback against a fresh
# box serving one domain. The query mix: answers (MX, TXT incl. the DKIM
# key, A, SRV, SOA, NS with mixed case), NXDOMAIN and REFUSED.
# Loopback is exempt from response rate limiting, as in 'boxmail serve'.
#
# With DO=1 every query sets the DNSSEC OK bit (dnsperf -D), so the
# answers carry the zone's RRSIGs and NSEC proofs (the box signs its
# zones online; signatures are made once per RRset, not per query).
#
# usage: [DO=1] bench/dns.sh [SECONDS=15] [CLIENTS=4]
set -euo pipefail
SECS=${1:-15} CLIENTS=${2:-4}
command -v dnsperf >/dev/null || { echo "dnsperf missing: apt-get install dnsperf" >&2; exit 1; }
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/dns-bench.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
(cd "$repo" && CGO_ENABLED=0 go build -o "$work/boxmail" ./cmd/boxmail)
"$work/boxmail" init --dir "$work/box" --hostname box.example.net --domain example.net --admin admin@example.net >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i -e 's/^listen = .*/listen = 127.0.0.1/' -e 's/^public_ipv4 = .*/public_ipv4 = 198.51.100.7/' \
  -e 's/^\(smtp\|submission\|submissions\|imap\|imaps\)_port = .*/\1_port = 0/' \
  -e "s/^dns_port = .*/dns_port = $port/" -e 's/^log_level = .*/log_level = warn/' "$work/box/boxmail.conf"
"$work/boxmail" serve --dir "$work/box" 2>"$work/serve.log" & pid=$!
for _ in $(seq 50); do dig @127.0.0.1 -p "$port" +short +tries=1 +time=1 SOA example.net >/dev/null 2>&1 && break; sleep 0.1; done
printf '%s\n' 'example.net MX' 'example.net TXT' 'box.example.net A' 'mail._domainkey.example.net TXT' \
  '_dmarc.example.net TXT' 'nothing.example.net A' '_submission._tcp.example.net SRV' 'example.net SOA' \
  'example.org A' 'EXAMPLE.net NS' > "$work/queries.txt"
timeout $((SECS + 30)) dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l "$SECS" -c "$CLIENTS" -T 1 -q 200 ${DO:+-D}
