#!/usr/bin/env bash
# SMTP ingest benchmark of boxmail on loopback, with the shared reference
# harness (../shared/bench/smtp-ingest.sh, Postfix's smtp-source).
#
# Builds boxmail (CGO_ENABLED=0), creates a temporary data dir (boxmail init,
# domain bench.test, users user1..user8@bench.test), serves it on
# 127.0.0.1 high ports, reports boxmail's idle RSS, then pushes MSGS
# messages of SIZE bytes over CONC concurrent sessions, one message per
# connection, and waits until all are delivered. Stops only the boxmail it
# started and removes what it created.
#
# usage: bench/smtp-ingest.sh [MSGS=2000] [CONC=8] [SIZE=4096]
# env:  SMTP_PORT=6525 IMAP_PORT=6143   first port tried (the next free one is used)
#       COUNT_MODE=auto|imap|db        how delivered mail is counted: IMAP STATUS
#                                       summed over the users (../shared/bench/imap-count.sh)
#                                       or a read-only look into the database
#                                       (bench/cmd/countmsgs); auto = imap when
#                                       boxmail serves IMAP, else db
#       LOG_LEVEL=info                  boxmail's log level (the log goes to a file)
#       BOXMAIL_ENV="GOGC=.. ..."       extra environment for boxmail serve
#       KEEP=0                          1 keeps the data dir and log (path printed)
#       SHARED_BENCH=<repo>/../shared/bench
#       BUILD_REV=                      build this git revision (git archive, a clean
#                                       checkout) instead of the working tree
#       BOXMAIL_BIN=                    use this prebuilt boxmail binary (e.g. a profiling build)
#       STORE_URL=postgres://...        the box's store_url (bench/pg.sh starts a PostgreSQL);
#                                       empty: the embedded SQLite store. Counting is by IMAP.
#       NODES=1                         with STORE_URL: run this many nodes of the box (copies of
#                                       the data dir, each on ports of its own); the sessions
#                                       are spread over them by recipient (bench/smtp-spread.sh)
#       PG_PID=                         PostgreSQL's postmaster: its tree's CPU is counted too
#       BEFORE_RUN=                     a command run once the box is up, right before the
#                                       measured run (bench/cluster.sh: resets PostgreSQL's
#                                       statement counts)
#       OWN_CPU=0                       1: measure the servers' CPU here, retrying a /proc scan
#                                       that a process exiting broke (a busy machine), instead
#                                       of in the shared harness (which then reports no memory);
#                                       node_cpu_ms_per_msg= is the boxmail nodes' alone
# Output: the shared harness's key=value lines, plus idle_rss_mb=,
# hwm_rss_mb= (VmHWM: boxmail's peak RSS over its life), count_mode= and
# boxmail_pid=.
set -euo pipefail
MSGS=${1:-2000} CONC=${2:-8} SIZE=${3:-4096}
NUSERS=8 DOMAIN=bench.test PASS=bench-pass-4711

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
SHARED_BENCH=${SHARED_BENCH:-$repo/../shared/bench}
if [ ! -x "$SHARED_BENCH/smtp-ingest.sh" ]; then
  echo "error: shared harness $SHARED_BENCH/smtp-ingest.sh not found (expected ../shared/bench beside the repo; set SHARED_BENCH)" >&2
  exit 1
fi
SHARED_BENCH=$(cd "$SHARED_BENCH" && pwd)
[ -x /usr/sbin/smtp-source ] || [ -n "${SMTP_SOURCE:-}" ] || { echo "error: /usr/sbin/smtp-source missing (apt-get install postfix)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/boxmail-bench.XXXXXX")
bpid="" node_pids=()
cleanup() {
  local p
  for p in $bpid "${node_pids[@]}"; do   # only the boxmail processes this script started
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null || true
      for _ in $(seq 1 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
      kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# port_free PORT: nothing listens on 127.0.0.1:PORT
port_free() { ! ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }
pick_port() { local p=$1 i; for i in $(seq 0 50); do port_free $((p + i)) && { echo $((p + i)); return; }; done
  echo "error: no free port near $1" >&2; return 1; }

src=$repo
if [ -n "${BUILD_REV:-}" ]; then
  src=$work/src; mkdir "$src"
  (cd "$repo" && git archive "$BUILD_REV") | tar -x -C "$src"
fi
echo "building boxmail ${BOXMAIL_BIN:-${BUILD_REV:-(working tree)}}..." >&2
(cd "$src" && CGO_ENABLED=0 go build -o "$work/countmsgs" ./bench/cmd/countmsgs)
if [ -n "${BOXMAIL_BIN:-}" ]; then cp "$BOXMAIL_BIN" "$work/boxmail"
else (cd "$src" && CGO_ENABLED=0 go build -o "$work/boxmail" ./cmd/boxmail); fi

data=$work/data
printf '%s\n' "$PASS" > "$work/pw"
"$work/boxmail" init --dir "$data" --hostname mx.bench.test --domain "$DOMAIN" --admin "admin@$DOMAIN" --password-file "$work/pw" \
  ${STORE_URL:+--store-url "$STORE_URL"} >/dev/null
NODES=${NODES:-1}
[ "$NODES" = 1 ] || [ -n "${STORE_URL:-}" ] || { echo "error: NODES > 1 needs STORE_URL" >&2; exit 2; }
for i in $(seq 1 "$NUSERS"); do
  "$work/boxmail" user add --dir "$data" --password-file "$work/pw" "user$i@$DOMAIN" >/dev/null
done
smtp_port=$(pick_port "${SMTP_PORT:-6525}")
imap_port=$(pick_port "${IMAP_PORT:-6143}")
conf=$data/boxmail.conf
set_conf() {  # set_conf KEY VALUE: replace the key's line or append it
  if grep -q "^$1 *=" "$conf"; then sed -i "s|^$1 *=.*|$1 = $2|" "$conf"; else echo "$1 = $2" >> "$conf"; fi; }
set_conf listen 127.0.0.1
set_conf smtp_port "$smtp_port"
set_conf submission_port 0
set_conf submissions_port 0
set_conf imap_port "$imap_port"
set_conf imaps_port 0
set_conf insecure_auth true   # imap-count.sh logs in without TLS (loopback only)
set_conf log_level "${LOG_LEVEL:-info}"
# The other protocols stay up (the idle footprint counts them), on free
# ports rather than the standard ones another box on this machine may hold.
set_conf dns_port "$(pick_port 6553)"
set_conf http_port "$(pick_port 6580)"
set_conf https_port "$(pick_port 6643)"
set_conf pop3_port "$(pick_port 6110)"
set_conf pop3s_port "$(pick_port 6995)"
set_conf managesieve_port "$(pick_port 6190)"

# Nodes 2..NODES: copies of the data dir (not its SQLite files or body
# files), each on free ports of its own.
node_ports=("$smtp_port")
for k in $(seq 2 "$NODES"); do
  d=$work/data$k; mkdir -p "$d/bodies"
  (cd "$data" && find . -type f ! -name 'boxmail.db*' ! -path './bodies/*' -exec cp --parents {} "$d" \;)
  p=$smtp_port
  for key in smtp_port imap_port dns_port http_port https_port pop3_port pop3s_port managesieve_port; do
    p=$(pick_port $((p + 100 * k + 1))); sed -i "s|^$key *=.*|$key = $p|" "$d/boxmail.conf"
    [ $key = smtp_port ] && node_ports+=("$p")
  done
done

# wait_smtp PID PORT LOG: wait until the boxmail PID listens on PORT
wait_smtp() {
  local up=0
  for _ in $(seq 1 100); do
    kill -0 "$1" 2>/dev/null || break
    if ! port_free "$2"; then up=1; break; fi
    sleep 0.1
  done
  [ $up = 1 ] || { echo "error: boxmail did not start listening on $2" >&2; cat "$3" >&2; exit 1; }
}
# shellcheck disable=SC2086
env ${BOXMAIL_ENV:-} "$work/boxmail" serve --dir "$data" >"$work/serve.log" 2>&1 &
bpid=$!
wait_smtp "$bpid" "$smtp_port" "$work/serve.log"
for k in $(seq 2 "$NODES"); do
  # shellcheck disable=SC2086
  env ${BOXMAIL_ENV:-} "$work/boxmail" serve --dir "$work/data$k" >"$work/serve$k.log" 2>&1 &
  node_pids+=($!)
  wait_smtp "$!" "${node_ports[$((k - 1))]}" "$work/serve$k.log"
done
sleep 1   # settle before reading the idle footprint
idle_rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$bpid/status")

mode=${COUNT_MODE:-auto}
[ -n "${STORE_URL:-}" ] && [ "$mode" = auto ] && mode=imap   # countmsgs reads SQLite only
imap_cmd="s=0; for i in \$(seq 1 $NUSERS); do n=\$('$SHARED_BENCH/imap-count.sh' 127.0.0.1 $imap_port user\$i@$DOMAIN '$PASS') || exit 1; s=\$((s + n)); done; echo \$s"
if [ "$mode" = auto ]; then
  mode=db
  if ! port_free "$imap_port" && bash -c "$imap_cmd" >/dev/null 2>&1; then mode=imap; fi
fi
case $mode in
  imap) count_cmd=$imap_cmd ;;
  db) count_cmd="'$work/countmsgs' '$data'$(for i in $(seq 1 "$NUSERS"); do printf " user%d@%s" "$i" "$DOMAIN"; done)" ;;
  *) echo "error: COUNT_MODE must be auto, imap or db" >&2; exit 2 ;;
esac

echo "boxmail pid $bpid on 127.0.0.1:$smtp_port, counting by $mode; running $MSGS x $SIZE B over $CONC sessions..." >&2
rc=0
if [ "$NODES" -gt 1 ]; then   # each smtp-source session to a node picked by its recipient
  export SMTP_SOURCE=$here/smtp-spread.sh SPREAD_PORTS="${node_ports[*]}"
fi
targets="$bpid ${node_pids[*]} ${PG_PID:-}"
if [ -n "${BEFORE_RUN:-}" ]; then eval "$BEFORE_RUN"; fi   # e.g. bench/pg.sh stats-reset
if [ "${OWN_CPU:-0}" = 1 ]; then
  # shellcheck source=/dev/null
  . "$SHARED_BENCH/lib/proctree.sh"
  ticks() { local v _; for _ in $(seq 1 20); do v=$(tree_cpu_ticks $targets 2>/dev/null) && { echo "$v"; return; }; done; echo x; }
  cpu0=$(ticks); targets="$bpid ${node_pids[*]}"; ncpu0=$(ticks); targets=""
fi
# shellcheck disable=SC2086
TARGET_PIDS=$targets COUNT_CMD=$count_cmd RCPT_USERS=$NUSERS RCPT_SPREAD=1 \
  "$SHARED_BENCH/smtp-ingest.sh" 127.0.0.1 "$smtp_port" "$DOMAIN" "$MSGS" "$CONC" "$SIZE" >"$work/result" || rc=$?
cat "$work/result"
if [ "${OWN_CPU:-0}" = 1 ]; then
  targets="$bpid ${node_pids[*]} ${PG_PID:-}"; cpu1=$(ticks); targets="$bpid ${node_pids[*]}"; ncpu1=$(ticks)
  awk -v a="$cpu0" -v b="$cpu1" -v hz="$(getconf CLK_TCK)" -v n="$MSGS" 'BEGIN {
    if (a == "x" || b == "x") print "server_cpu_s=- server_cpu_ms_per_msg=-"
    else printf "server_cpu_s=%.2f server_cpu_ms_per_msg=%.2f\n", (b - a) / hz, 1000 * (b - a) / hz / n }'
  awk -v a="$ncpu0" -v b="$ncpu1" -v hz="$(getconf CLK_TCK)" -v n="$MSGS" 'BEGIN {
    if (a == "x" || b == "x") print "node_cpu_ms_per_msg=-"
    else printf "node_cpu_ms_per_msg=%.2f\n", 1000 * (b - a) / hz / n }'
fi
if [ $rc != 0 ] && ! grep -q '^msgs=' "$work/result"; then
  # lib/proctree.sh runs under pipefail: a process that exits while it reads
  # /proc/*/stat makes the harness stop without a word. Rerunning helps.
  echo "error: the shared harness stopped without a result (rc $rc; likely a process exiting during its /proc scan); rerun" >&2
fi
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$bpid/status" 2>/dev/null || echo 0)
awk -v k="$idle_rss_kb" -v h="${hwm_kb:-0}" 'BEGIN { printf "idle_rss_mb=%.1f hwm_rss_mb=%.1f\n", k / 1024, h / 1024 }'
echo "count_mode=$mode boxmail_pid=$bpid nodes=$NODES"
if grep -q 'level=ERROR' "$work"/serve*.log; then
  echo "boxmail logged errors:" >&2; grep -h 'level=ERROR' "$work"/serve*.log | head -5 >&2; rc=1
fi
exit $rc
