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
#        BASE_BIN=boxmail binary: configurations named NAME-base (e.g.
#        CONFIGS="sqlite pg1 sqlite-base pg1-base") run it instead of this tree's
#        build, alternating with the others: a before/after comparison under
#        the same load.
#        STATEMENTS=1: count PostgreSQL's statements (bench/pg.sh PG_STATS=1) and
#        add stmts_per_msg= / stmts_per_op= to the PostgreSQL rows, the most run
#        ones listed at the end; pg_stat_statements costs CPU: take the CPU and
#        throughput figures from a run without it.
#        PER_NODE_LOAD=1: offer each node of pgN the load one node gets
#        (CONC sessions of SMTP and 10 IMAP clients per node) instead of
#        spreading the same load over the nodes.
#        NODE_CPU=0.5: give every boxmail node (each `serve` process) a CPU quota
#        of its own of this many cores (a cgroup per node, v1 or v2 cpu
#        controller; needs root), so that nodes are CPU-bound on their own
#        budget while PostgreSQL and the load generator share the rest: the
#        rows then add throttled= (the largest share of a node's scheduling
#        periods in which it hit its quota: near 1 = CPU-bound).
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
pg_up=0 cgroot=""
cleanup() {
  [ $pg_up = 1 ] && { "$here/pg.sh" stop "$work/pg" || true; }
  [ -n "$cgroot" ] && { cg_collect >/dev/null; rmdir "$cgroot" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "[$(date +%T)] $*" >&2; }

# cg_collect: the largest share of throttled periods over the nodes' cgroups
# of the run that just ended, printed; the emptied cgroups are removed.
cg_collect() {
  local d worst=0 f
  for d in "$cgroot"/*/; do
    [ -d "$d" ] || continue
    f=$(awk '$1 == "nr_periods" { p = $2 } $1 == "nr_throttled" { t = $2 } END { if (p > 0) printf "%.2f", t / p; else print 0 }' "$d/cpu.stat")
    worst=$(awk -v a="$worst" -v b="$f" 'BEGIN { print (b > a ? b : a) }')
    rmdir "$d" 2>/dev/null || true
  done
  echo "$worst"
}
# capped BIN OUT: OUT runs BIN, a `serve` in a cgroup of its own with NODE_CPU cores' quota
capped() {
  local quota; quota=$(awk -v c="$NODE_CPU" 'BEGIN { printf "%d", c * 100000 }')
  cat >"$2" <<EOF
#!/bin/sh
if [ "\$1" = serve ]; then
  g=$cgroot/\$\$
  mkdir "\$g" || exit 1
  if [ -f "\$g/cpu.max" ]; then echo "$quota 100000" >"\$g/cpu.max"
  else echo 100000 >"\$g/cpu.cfs_period_us" && echo $quota >"\$g/cpu.cfs_quota_us"; fi || exit 1
  echo \$\$ >"\$g/cgroup.procs" || exit 1
fi
exec "$1" "\$@"
EOF
  chmod 755 "$2"
}

log "building boxmail and imapload"
(cd "$repo" && CGO_ENABLED=0 go build -o "$work/boxmail" ./cmd/boxmail && CGO_ENABLED=0 go build -o "$work/imapload" ./bench/cmd/imapload && CGO_ENABLED=0 go build -o "$work/fillmail" ./bench/cmd/fillmail)
export BOXMAIL_BIN=$work/boxmail IMAPLOAD_BIN=$work/imapload FILLMAIL_BIN=$work/fillmail
if [ -n "${NODE_CPU:-}" ]; then
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then cgroot=/sys/fs/cgroup/boxmail-bench-$$
    grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu >/sys/fs/cgroup/cgroup.subtree_control
  else cgroot=/sys/fs/cgroup/cpu/boxmail-bench-$$; fi
  mkdir "$cgroot"
  [ -f "$cgroot/cgroup.subtree_control" ] && echo +cpu >"$cgroot/cgroup.subtree_control"
  capped "$work/boxmail" "$work/boxmail-capped"
  [ -n "${BASE_BIN:-}" ] && capped "$BASE_BIN" "$work/boxmail-base-capped"
fi
eval "$(PG_STATS=${STATEMENTS:-0} "$here/pg.sh" start "$work/pg")"; pg_up=1
pg_pid=$PG_PID
load0=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$work/rows"; : >"$work/statements"
run=0
for round in $(seq 1 "$ROUNDS"); do
  for cfg in $CONFIGS; do
    for part in ingest imap; do
      run=$((run + 1))
      unset STORE_URL PG_PID NODES BEFORE_RUN
      export BOXMAIL_BIN=$work/boxmail
      case $cfg in *-base) BOXMAIL_BIN=${BASE_BIN:?BASE_BIN: the boxmail binary of the -base configurations} ;; esac
      if [ -n "$cgroot" ]; then case $cfg in *-base) BOXMAIL_BIN=$work/boxmail-base-capped ;; *) BOXMAIL_BIN=$work/boxmail-capped ;; esac; fi
      case ${cfg%-base} in
        sqlite) ;;
        pg*) eval "$("$here/pg.sh" db "$work/pg" "run$run")"; cfgname=${cfg%-base}; export STORE_URL PG_PID=$pg_pid NODES=${cfgname#pg}
          [ "${STATEMENTS:-0}" = 1 ] && export BEFORE_RUN="'$here/pg.sh' stats-reset '$work/pg'" ;;
      esac
      log "round $round: $cfg $part"
      k=1; [ "${PER_NODE_LOAD:-0}" = 1 ] && [ -n "${NODES:-}" ] && k=$NODES
      if [ $part = ingest ]; then
        out=$(OWN_CPU=1 TMPDIR=$work "$here/smtp-ingest.sh" "$((MSGS * k))" "$((CONC * k))" "$SIZE" 2>>"$work/log") || { log "ingest failed"; tail -5 "$work/log" >&2; continue; }
        v=$(echo "$out" | tr ' ' '\n' | grep -E '^(smtp_msgs_per_s|e2e_msgs_per_s|server_cpu_ms_per_msg|node_cpu_ms_per_msg)=' | tr '\n' ' ')
      else
        out=$(CLIENTS=$((10 * k)) SESSIONS=$((1500 * k)) PEERS=0 ROUNDS=1 DURATION=$DURATION TMPDIR=$work "$here/imap-mixed.sh" 2>>"$work/log") || { log "imap failed"; tail -5 "$work/log" >&2; continue; }
        v=$(echo "$out" | grep '^boxmail 1 ' | tr ' ' '\n' | grep -E '^(ops_s|cpu_ms_op|node_cpu_ms_op|errors|ops)=' | tr '\n' ' ')
      fi
      if [ -n "${BEFORE_RUN:-}" ]; then   # statements per message / per IMAP operation
        "$here/pg.sh" stats "$work/pg" "run$run" 25 >"$work/stats"
        { echo "### $cfg $part round $round"; cat "$work/stats"; } >>"$work/statements"
        total=$(sed -n 's/^total=//p' "$work/stats")
        if [ $part = ingest ]; then v="$v stmts_per_msg=$(awk -v t="$total" -v n="$((MSGS * k))" 'BEGIN { printf "%.1f", t / n }')"
        else v="$v stmts_per_op=$(echo "$v" | tr ' ' '\n' | sed -n 's/^ops=//p' | awk -v t="$total" '{ printf "%.1f", ($1 > 0 ? t / $1 : 0) }')"; fi
      fi
      [ -n "$cgroot" ] && v="$v throttled=$(cg_collect)"
      echo "$cfg $part $round $v load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$work/rows" >&2
    done
  done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

med() { awk -v c="$1" -v p="$2" -v k="$3" '$1 == c && $2 == p { for (i = 4; i <= NF; i++) { split($i, a, "="); if (a[1] == k && a[2] != "-") print a[2] } }' "$work/rows" |
  sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "-" || b == "-") print "-"; else printf "%.2f", a / b }'; }
{
  echo "| configuration | SMTP accepted msg/s | SMTP end-to-end msg/s | server CPU ms/msg | nodes' CPU ms/msg | IMAP mixed ops/s | server CPU ms/op | nodes' CPU ms/op | nodes throttled (SMTP, IMAP) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for c in $CONFIGS; do
    echo "| $c | $(med "$c" ingest smtp_msgs_per_s) | $(med "$c" ingest e2e_msgs_per_s) | $(med "$c" ingest server_cpu_ms_per_msg) | $(med "$c" ingest node_cpu_ms_per_msg) | $(med "$c" imap ops_s) | $(med "$c" imap cpu_ms_op) | $(med "$c" imap node_cpu_ms_op) | $(med "$c" ingest throttled), $(med "$c" imap throttled) |"
  done
  echo
  [ "${PER_NODE_LOAD:-0}" = 1 ] && echo "Offered load per node (PER_NODE_LOAD=1): pgN ran N x $CONC SMTP sessions (N x $MSGS messages) and N x 10 IMAP clients." && echo
  [ -n "$cgroot" ] && echo "Core budget: each boxmail node is held to ${NODE_CPU} of a core by a cgroup CPU quota of its own; PostgreSQL, the load generator and the counting share the rest of the $(nproc) cores. Server CPU = the nodes + PostgreSQL; nodes' CPU = boxmail alone." && echo
  echo "Ratios (medians): pg1/sqlite SMTP $(ratio "$(med pg1 ingest e2e_msgs_per_s)" "$(med sqlite ingest e2e_msgs_per_s)"), IMAP $(ratio "$(med pg1 imap ops_s)" "$(med sqlite imap ops_s)");" \
    "pg2/pg1 SMTP $(ratio "$(med pg2 ingest e2e_msgs_per_s)" "$(med pg1 ingest e2e_msgs_per_s)"), IMAP $(ratio "$(med pg2 imap ops_s)" "$(med pg1 imap ops_s)")."
  if [ -n "${BASE_BIN:-}" ]; then
    echo
    echo "Base build (BASE_BIN): pg1-base/sqlite-base SMTP $(ratio "$(med pg1-base ingest e2e_msgs_per_s)" "$(med sqlite-base ingest e2e_msgs_per_s)"), IMAP $(ratio "$(med pg1-base imap ops_s)" "$(med sqlite-base imap ops_s)");" \
      "this build / base: pg1 SMTP $(ratio "$(med pg1 ingest e2e_msgs_per_s)" "$(med pg1-base ingest e2e_msgs_per_s)"), IMAP $(ratio "$(med pg1 imap ops_s)" "$(med pg1-base imap ops_s)");" \
      "sqlite SMTP $(ratio "$(med sqlite ingest e2e_msgs_per_s)" "$(med sqlite-base ingest e2e_msgs_per_s)"), IMAP $(ratio "$(med sqlite imap ops_s)" "$(med sqlite-base imap ops_s)")."
  fi
  echo
  echo "Machine: $(nproc) cores, load average $load0 at the start, $load1 at the end."
  echo
  echo '```'; cat "$work/rows"; echo '```'
  if [ -s "$work/statements" ]; then
    echo; echo "Statements (pg_stat_statements: calls, mean execution µs, mean planning µs, plans made, text), the most run per run:"; echo
    echo '```'; cat "$work/statements"; echo '```'
  fi
} | tee "${OUT:-/dev/null}"
