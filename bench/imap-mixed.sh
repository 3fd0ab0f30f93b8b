#!/usr/bin/env bash
# The 10-client mixed IMAP load of issue 18, side by side: boxmail,
# Dovecot 2.3 with Debian's defaults (a process per login) and a tuned
# Dovecot (process reuse, auth cache: bench/imap-lib.sh), on loopback.
#
# Each of 10 clients, one user each (user1..user10@bench.test, 100
# messages in INBOX, appended over IMAP first), runs sessions back to
# back: LOGIN, SELECT, FETCH of the 20 newest (UID FLAGS RFC822.SIZE and
# three header fields), STORE of \Flagged on one message, APPEND, UID STORE
# \Deleted of the appended one, EXPUNGE, LOGOUT (8 operations), for at
# most SESSIONS sessions and DURATION. The servers alternate, ROUNDS
# rounds; boxmail stays up between its rounds (its login cache warm, as a
# server's is). Reported: operations per second, and the server's CPU per
# operation (user+system ticks of its whole process tree from /proc,
# children it reaped included: Dovecot's per-login processes).
#
# usage: bench/imap-mixed.sh     env: ROUNDS=3 SESSIONS=1500 DURATION=20s CLIENTS=10
#        PEERS=1 (0: boxmail only, no Dovecot)  STORE_URL=postgres://... (bench/pg.sh;
#        empty: SQLite)  NODES=1 (with STORE_URL: nodes of one box, the clients spread
#        over them)  PG_PID= (PostgreSQL's postmaster: its CPU counts as the server's)
#        BEFORE_RUN=cmd (run right before each measured run)  ROWS_OUT=file (raw rows) OUT=file (the markdown table; else stdout only)
# Stops only the processes it started (boxmail by PID, the peer by its script).
set -euo pipefail
ROUNDS=${ROUNDS:-3} SESSIONS=${SESSIONS:-1500} DURATION=${DURATION:-20s} CLIENTS=${CLIENTS:-10}
[ "$CLIENTS" -le 10 ] || export NUSERS=$CLIENTS   # one user per client
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/boxmail-imapmixed.XXXXXX")
# shellcheck source=bench/imap-lib.sh
. "$here/imap-lib.sh"
trap imap_cleanup EXIT
trap 'exit 130' INT TERM

log "building boxmail and bench/cmd/imapload"
build_tools
box_init
box_start
PEERS=${PEERS:-1} NODES=${NODES:-1}
[ "$NODES" = 1 ] || [ -n "${STORE_URL:-}" ] || { echo "error: NODES > 1 needs STORE_URL" >&2; exit 2; }
box_start_nodes "$NODES"
if [ "$PEERS" = 1 ]; then
  peer_ports
  peer_start default 0; peer_stop   # writes the peer's configs, wipes old mail
fi

# one_run NAME PORT PASS ROOTPID...: a mixed-load run; appends its row
one_run() {
  local name=$1 port=$2 pass=$3; shift 3
  local t0 t1 n0=x n1=x out
  if [ -n "${BEFORE_RUN:-}" ]; then eval "$BEFORE_RUN"; fi   # e.g. bench/pg.sh stats-reset
  t0=$(cpu_ticks "$@")
  [ "$name" = boxmail ] && n0=$(cpu_ticks "$bpid" "${node_pids[@]}")
  case $port in *:*) ;; *) port=127.0.0.1:$port ;; esac
  out=$("$work/imapload" mixed -addr "$port" -users "1-$CLIENTS" -pass "$pass" -clients "$CLIENTS" \
    -sessions "$SESSIONS" -duration "$DURATION" | tee -a "$work/mixed.log" | grep -v '^#')
  t1=$(cpu_ticks "$@")
  [ "$name" = boxmail ] && n1=$(cpu_ticks "$bpid" "${node_pids[@]}")
  local d=x nd=x; [ "$t0" != x ] && [ "$t1" != x ] && d=$((t1 - t0)); [ "$n0" != x ] && [ "$n1" != x ] && nd=$((n1 - n0))
  awk -v n="$name" -v r="$round" -v d="$d" -v nd="$nd" -v hz="$clk_tck" -v line="$out" 'BEGIN {
    split(line, f, " "); for (i in f) { split(f[i], a, "="); v[a[1]] = a[2] }
    printf "%s %s ops_s=%s cpu_ms_op=%s ops=%s sessions=%s errors=%s secs=%s login_p50_ms=%s select_p50_ms=%s fetch_p50_ms=%s append_p50_ms=%s expunge_p50_ms=%s node_cpu_ms_op=%s\n",
      n, r, v["ops_s"], (d == "x" ? "-" : (v["ops"] > 0 ? sprintf("%.2f", d * 1000 / hz / v["ops"]) : 0)), v["ops"], v["sessions"], v["errors"], v["secs"],
      v["login_p50_ms"], v["select_p50_ms"], v["fetch_p50_ms"], v["append_p50_ms"], v["expunge_p50_ms"], (nd == "x" ? "-" : (v["ops"] > 0 ? sprintf("%.3f", nd * 1000 / hz / v["ops"]) : 0)) }' >>"$work/rows"
  tail -1 "$work/rows" >&2
}

: >"$work/rows"
log "boxmail: 100 messages in each user's INBOX"
"$work/imapload" setup -addr "127.0.0.1:$box_imap" -users "1-$CLIENTS" -pass "$BOX_PASS" -n 100 >&2
for round in $(seq 1 "$ROUNDS"); do
  log "round $round/$ROUNDS: boxmail"
  # shellcheck disable=SC2086
  one_run boxmail "$box_imaps" "$BOX_PASS" "$bpid" "${node_pids[@]}" ${PG_PID:-}
  [ "$PEERS" = 1 ] || continue
  for mode in default tuned; do
    name=dovecot; [ $mode = tuned ] && name=dovecot-tuned
    log "round $round/$ROUNDS: $name"
    peer_start "$mode"
    [ "$round" = 1 ] && [ $mode = default ] && "$work/imapload" setup -addr "127.0.0.1:$PD_IMAP_PORT" -users "1-$CLIENTS" -pass "$PD_PASS_" -n 100 >&2
    one_run "$name" "$PD_IMAP_PORT" "$PD_PASS_" "$pd_pid"
    peer_stop
  done
done
box_stop
load=$(cut -d' ' -f1-3 /proc/loadavg)
[ -n "${ROWS_OUT:-}" ] && cp "$work/rows" "$ROWS_OUT"

med() { awk -v s="$1" -v k="$2" '$1 == s { for (i = 3; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' "$work/rows" |
  sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "-" || b == "-") print "-"; else printf "%.2f", a / b }'; }
{
  echo "### Mixed IMAP load, $CLIENTS clients (bench/imap-mixed.sh)"
  echo
  echo "Medians of $ROUNDS rounds, servers alternating; each run at most $SESSIONS sessions or $DURATION. An operation is one IMAP command"
  echo "(8 per session: LOGIN SELECT FETCH STORE APPEND UID-STORE EXPUNGE LOGOUT). CPU: the server's process tree from /proc."
  echo
  echo "| server | ops/s | CPU ms/op | LOGIN p50 ms | SELECT p50 ms | FETCH p50 ms | APPEND p50 ms | EXPUNGE p50 ms | errors |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for s in boxmail dovecot dovecot-tuned; do
    echo "| $s | $(med $s ops_s) | $(med $s cpu_ms_op) | $(med $s login_p50_ms) | $(med $s select_p50_ms) | $(med $s fetch_p50_ms) | $(med $s append_p50_ms) | $(med $s expunge_p50_ms) | $(med $s errors) |"
  done
  echo
  b=$(med boxmail ops_s) d=$(med dovecot ops_s) t=$(med dovecot-tuned ops_s)
  bc=$(med boxmail cpu_ms_op) tc=$(med dovecot-tuned cpu_ms_op)
  echo "Goals (issue 18): ops/s >= 3x Dovecot-default: **$(ratio "$b" "$d")x**; >= tuned Dovecot: **$(ratio "$b" "$t")x**; CPU/op <= 0.3x tuned Dovecot's: **$(ratio "$bc" "$tc")x**."
  echo
  echo "Load average at the end: $load."
  echo
  echo '```'; cat "$work/rows"; echo '```'
} | tee "${OUT:-/dev/null}"
