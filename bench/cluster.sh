#!/usr/bin/env bash
# Issue 23's cluster figures on this machine: SMTP ingest (bench/smtp-ingest.sh)
# and the 10-client mixed IMAP load (bench/imap-mixed.sh, boxmail only) for
# one node on SQLite, one node on PostgreSQL and two nodes on one
# PostgreSQL (bench/pg.sh: a private cluster with durable defaults), the
# configurations alternating, ROUNDS rounds; a fresh database per run.
# Prints raw rows and a markdown table of medians (OUT=file: also there).
#
# usage: bench/cluster.sh     env: ROUNDS=3 MSGS=2000 CONC=8 SIZE=4096 DURATION=20s
#        CONFIGS="sqlite pg1 pg2"  SHARED_BENCH=<repo>/../shared/bench
# The core budget: everything (PostgreSQL, the nodes, smtp-source and
# imapload) shares this machine's cores; CPU figures are the servers'
# process trees (boxmail nodes + PostgreSQL) from /proc.
set -euo pipefail
ROUNDS=${ROUNDS:-3} MSGS=${MSGS:-2000} CONC=${CONC:-8} SIZE=${SIZE:-4096} DURATION=${DURATION:-20s}
CONFIGS=${CONFIGS:-sqlite pg1 pg2}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
if [ -z "${SHARED_BENCH:-}" ]; then
  SHARED_BENCH=$repo/../shared/bench
  [ -x "$SHARED_BENCH/smtp-ingest.sh" ] || SHARED_BENCH=$(cd "$repo" && cd "$(git rev-parse --git-common-dir)/../.." && pwd)/shared/bench
fi
export SHARED_BENCH
work=$(mktemp -d "${TMPDIR:-/tmp}/boxmail-cluster.XXXXXX")
chmod 755 "$work"
pg_up=0
cleanup() { [ $pg_up = 1 ] && { "$here/pg.sh" stop "$work/pg" || true; }; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "[$(date +%T)] $*" >&2; }

log "building boxmail and imapload"
(cd "$repo" && CGO_ENABLED=0 go build -o "$work/boxmail" ./cmd/boxmail && CGO_ENABLED=0 go build -o "$work/imapload" ./bench/cmd/imapload && CGO_ENABLED=0 go build -o "$work/fillmail" ./bench/cmd/fillmail)
export BOXMAIL_BIN=$work/boxmail IMAPLOAD_BIN=$work/imapload FILLMAIL_BIN=$work/fillmail
eval "$("$here/pg.sh" start "$work/pg")"; pg_up=1
pg_pid=$PG_PID
load0=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$work/rows"
run=0
for round in $(seq 1 "$ROUNDS"); do
  for cfg in $CONFIGS; do
    for part in ingest imap; do
      run=$((run + 1))
      unset STORE_URL PG_PID NODES
      case $cfg in
        sqlite) ;;
        pg*) eval "$("$here/pg.sh" db "$work/pg" "run$run")"; export STORE_URL PG_PID=$pg_pid NODES=${cfg#pg} ;;
      esac
      log "round $round: $cfg $part"
      if [ $part = ingest ]; then
        out=$(OWN_CPU=1 TMPDIR=$work "$here/smtp-ingest.sh" "$MSGS" "$CONC" "$SIZE" 2>>"$work/log") || { log "ingest failed"; tail -5 "$work/log" >&2; continue; }
        v=$(echo "$out" | tr ' ' '\n' | grep -E '^(smtp_msgs_per_s|e2e_msgs_per_s|server_cpu_ms_per_msg)=' | tr '\n' ' ')
      else
        out=$(PEERS=0 ROUNDS=1 DURATION=$DURATION TMPDIR=$work "$here/imap-mixed.sh" 2>>"$work/log") || { log "imap failed"; tail -5 "$work/log" >&2; continue; }
        v=$(echo "$out" | grep '^boxmail 1 ' | tr ' ' '\n' | grep -E '^(ops_s|cpu_ms_op|errors)=' | tr '\n' ' ')
      fi
      echo "$cfg $part $round $v load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$work/rows" >&2
    done
  done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

med() { awk -v c="$1" -v p="$2" -v k="$3" '$1 == c && $2 == p { for (i = 4; i <= NF; i++) { split($i, a, "="); if (a[1] == k && a[2] != "-") print a[2] } }' "$work/rows" |
  sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "-" || b == "-") print "-"; else printf "%.2f", a / b }'; }
{
  echo "| configuration | SMTP accepted msg/s | SMTP end-to-end msg/s | server CPU ms/msg | IMAP mixed ops/s | server CPU ms/op |"
  echo "|---|---|---|---|---|---|"
  for c in $CONFIGS; do
    echo "| $c | $(med "$c" ingest smtp_msgs_per_s) | $(med "$c" ingest e2e_msgs_per_s) | $(med "$c" ingest server_cpu_ms_per_msg) | $(med "$c" imap ops_s) | $(med "$c" imap cpu_ms_op) |"
  done
  echo
  echo "Ratios (medians): pg1/sqlite SMTP $(ratio "$(med pg1 ingest e2e_msgs_per_s)" "$(med sqlite ingest e2e_msgs_per_s)"), IMAP $(ratio "$(med pg1 imap ops_s)" "$(med sqlite imap ops_s)");" \
    "pg2/pg1 SMTP $(ratio "$(med pg2 ingest e2e_msgs_per_s)" "$(med pg1 ingest e2e_msgs_per_s)"), IMAP $(ratio "$(med pg2 imap ops_s)" "$(med pg1 imap ops_s)")."
  echo
  echo "Machine: $(nproc) cores, load average $load0 at the start, $load1 at the end."
  echo
  echo '```'; cat "$work/rows"; echo '```'
} | tee "${OUT:-/dev/null}"
