#!/usr/bin/env bash
# boxmail vs the reference Postfix + Dovecot (../shared/bench/peers), SMTP
# ingest of MSGS x SIZE over CONC sessions, ROUNDS alternating rounds each
# (boxmail first). Writes the medians and ratios to
# bench/results/smtp-ingest-YYYY-MM-DD.md (or OUT) and prints them.
#
# usage: bench/compare.sh [ROUNDS=3] [MSGS=2000] [CONC=8] [SIZE=4096]
# env:   OUT=path  BOXMAIL_ENV="GOGC=.." BUILD_REV=HEAD BOXMAIL_BIN= (passed to bench/smtp-ingest.sh)
#        ROWS_OUT=path  also copy the raw rows (server round e2e accept cpu rss pss idle mode hwm) there
#        PD_* (see ../shared/bench/peers/postfix-dovecot.sh)
set -euo pipefail
ROUNDS=${1:-3} MSGS=${2:-2000} CONC=${3:-8} SIZE=${4:-4096}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
SHARED_BENCH=${SHARED_BENCH:-$repo/../shared/bench}
PEER=$SHARED_BENCH/peers/postfix-dovecot.sh
[ -x "$SHARED_BENCH/smtp-ingest.sh" ] && [ -x "$PEER" ] ||
  { echo "error: shared harness not found under $SHARED_BENCH (set SHARED_BENCH)" >&2; exit 1; }
SHARED_BENCH=$(cd "$SHARED_BENCH" && pwd); PEER=$SHARED_BENCH/peers/postfix-dovecot.sh
OUT=${OUT:-$repo/bench/results/smtp-ingest-$(date -u +%F).md}

work=$(mktemp -d "${TMPDIR:-/tmp}/boxmail-compare.XXXXXX")
export BENCH_DIR=$work/peer   # the peer's private dir: nothing shared with other runs
mkdir -p "$BENCH_DIR"; chmod 755 "$work"   # postfix and dovecot users must reach it
peer_up=0
cleanup() {
  [ $peer_up = 1 ] && "$PEER" stop >>"$work/peer.log" 2>&1 </dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }
pick_port() { local p=$1 i; for i in $(seq 0 50); do port_free $((p + i)) && { echo $((p + i)); return; }; done; return 1; }
export MEM_SAMPLE_S=${MEM_SAMPLE_S:-0.2}   # the runs last seconds: sample memory often
export PD_SMTP_PORT=${PD_SMTP_PORT:-$(pick_port 5525)} PD_IMAP_PORT=${PD_IMAP_PORT:-$(pick_port 5143)} PD_POP3_PORT=${PD_POP3_PORT:-$(pick_port 5110)}

kv() { grep -o "$1=[0-9.]*" "$2" | tail -1 | cut -d= -f2; }   # kv KEY FILE
run_boxmail() {  # run_boxmail ROUND
  local f=$work/boxmail.$1
  local try
  for try in 1 2 3; do   # the shared harness sometimes stops without a result (see smtp-ingest.sh)
    COUNT_MODE=${COUNT_MODE:-db} "$here/smtp-ingest.sh" "$MSGS" "$CONC" "$SIZE" >"$f" 2>"$f.err" && break
    cat "$f" "$f.err" >&2; [ $try = 3 ] && return 1; echo "retrying boxmail round $1" >&2
  done
  echo "boxmail $1 $(kv e2e_msgs_per_s "$f") $(kv smtp_msgs_per_s "$f") $(kv server_cpu_ms_per_msg "$f") $(kv peak_rss_mb "$f") $(kv peak_pss_mb "$f") $(kv idle_rss_mb "$f") $(grep -o 'count_mode=[a-z]*' "$f" | cut -d= -f2) $(kv hwm_rss_mb "$f")" >>"$work/rows"
}
run_peer() {  # run_peer ROUND
  local f=$work/peer.$1 try ok=0
  for try in 1 2 3; do
    peer_up=1   # set first: a failed start may leave one daemon running, and stop ends it
    "$PEER" start >>"$work/peer.log" 2>&1 </dev/null || { tail -20 "$work/peer.log" >&2; return 1; }
    eval "$("$PEER" info)"
    TARGET_PIDS=$PIDS COUNT_CMD="'$PEER' count" "$SHARED_BENCH/smtp-ingest.sh" 127.0.0.1 "$SMTP_PORT" bench.test "$MSGS" "$CONC" "$SIZE" \
      >"$f" 2>"$f.err" && ok=1
    "$PEER" stop >>"$work/peer.log" 2>&1 </dev/null; peer_up=0
    [ $ok = 1 ] && break
    cat "$f" "$f.err" >&2; [ $try = 3 ] && return 1; echo "retrying postfix-dovecot round $1" >&2
  done
  echo "postfix-dovecot $1 $(kv e2e_msgs_per_s "$f") $(kv smtp_msgs_per_s "$f") $(kv server_cpu_ms_per_msg "$f") $(kv peak_rss_mb "$f") $(kv peak_pss_mb "$f") - find -" >>"$work/rows"
}

: >"$work/rows"
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS: boxmail" >&2; run_boxmail "$r"
  echo "round $r/$ROUNDS: postfix+dovecot" >&2; run_peer "$r"
done

# One more boxmail run counted over IMAP (8 logins per count, each a bcrypt
# check in the server) to show what the db count leaves out.
imap_note="not run (IMAP_CHECK=0)"
if [ "${IMAP_CHECK:-1}" = 1 ]; then
  echo "extra: boxmail counted over IMAP" >&2
  if COUNT_MODE=imap "$here/smtp-ingest.sh" "$MSGS" "$CONC" "$SIZE" >"$work/imap" 2>"$work/imap.err"; then
    imap_note="e2e $(kv e2e_msgs_per_s "$work/imap") msgs/s, accept $(kv smtp_msgs_per_s "$work/imap") msgs/s, CPU $(kv server_cpu_ms_per_msg "$work/imap") ms/msg, peak RSS $(kv peak_rss_mb "$work/imap") MiB"
  else
    imap_note="failed: $(tail -1 "$work/imap.err")"
  fi
fi

# median SERVER COLUMN (columns: 3 e2e, 4 smtp, 5 cpu, 6 rss, 7 pss, 8 idle, 10 VmHWM)
median() { awk -v s="$1" -v c="$2" '$1 == s { print $c }' "$work/rows" | sort -g |
  awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for c in 3 4 5 6 7 8 10; do
  eval "b$c=$(median boxmail $c)"
  eval "p$c=$(median postfix-dovecot $c)"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mode=$(awk '$1 == "boxmail" { print $9 }' "$work/rows" | sort -u | paste -sd,)
if [ -n "${BUILD_REV:-}" ]; then commit=$(cd "$repo" && git rev-parse --short "$BUILD_REV")
else commit=$(cd "$repo" && git rev-parse --short HEAD)$(cd "$repo" && git diff --quiet HEAD -- cmd internal || echo "+dirty"); fi

[ -n "${ROWS_OUT:-}" ] && cp "$work/rows" "$ROWS_OUT"
mkdir -p "$(dirname "$OUT")"
{
  echo "# SMTP ingest: boxmail vs Postfix + Dovecot, $(date -u +%F)"
  echo
  echo "\`bench/compare.sh $ROUNDS $MSGS $CONC $SIZE\`: $MSGS messages of $SIZE bytes over $CONC concurrent sessions, one message"
  echo "per connection (Postfix smtp-source via ../shared/bench/smtp-ingest.sh), recipients user1..user8@bench.test,"
  echo "$ROUNDS rounds alternating boxmail / Postfix+Dovecot in the same session; medians."
  echo "End to end = until every message is countable: for the peer by counting Maildir files (find), for boxmail"
  echo "by counting rows in its database read-only (bench/cmd/countmsgs, count mode: $mode), the equivalent that costs"
  echo "the server nothing. Counting over IMAP instead (../shared/bench/imap-count.sh for 8 users) charges boxmail"
  echo "8 bcrypt logins per poll; one such run, same load: $imap_note."
  echo "boxmail $commit, $(go version | awk '{ print $3 }'), fsync on (SQLite WAL synchronous=FULL); the peer: Debian defaults, fsync on."
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r), data on $(df -T "${TMPDIR:-/tmp}" | awk 'NR == 2 { print $2 }')."
  echo
  echo "| median | boxmail | Postfix + Dovecot | boxmail / peer |"
  echo "|---|---|---|---|"
  echo "| end-to-end msgs/s | $b3 | $p3 | **$(ratio "$b3" "$p3")x** |"
  echo "| SMTP-accept msgs/s | $b4 | $p4 | $(ratio "$b4" "$p4")x |"
  echo "| server CPU ms/msg | $b5 | $p5 | $(ratio "$b5" "$p5")x |"
  echo "| peak RSS MiB (process tree sum) | $b6 | $p6 | $(ratio "$b6" "$p6")x |"
  echo "| peak PSS MiB | $b7 | $p7 | $(ratio "$b7" "$p7")x |"
  echo "| boxmail VmHWM MiB (kernel's peak RSS over its life) | $b10 | - | |"
  echo "| idle RSS MiB (after start, before load) | $b8 | - | |"
  echo
  echo "Every round:"
  echo
  echo "| server | round | e2e msgs/s | accept msgs/s | CPU ms/msg | peak RSS MiB | peak PSS MiB | idle RSS MiB | VmHWM MiB |"
  echo "|---|---|---|---|---|---|---|---|---|"
  awk '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $10 }' "$work/rows"
} >"$OUT"
cat "$OUT"
echo "wrote $OUT" >&2
