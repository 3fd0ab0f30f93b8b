# shellcheck shell=bash
# Sourced by bench/imap-mixed.sh and bench/imap-100k.sh: a temporary
# boxmail and the reference Postfix + Dovecot (../shared/bench) on loopback,
# each started and stopped by PID, and the load driver bench/cmd/imapload.
# Everything here talks to the servers over IMAP and SMTP only, so the
# scripts run unchanged whatever serves IMAP inside boxmail.
#
# The caller sets: work (a temporary directory it removes), here (bench/).
# Env: BOXMAIL_BIN, IMAPLOAD_BIN, FILLMAIL_BIN  prebuilt tools (run.sh passes them)
#      BUILD_REV=   git revision to build (git archive); empty: the working tree
#      SHARED_BENCH=<repo>/../shared/bench (else beside the main checkout)

repo=$(cd "$here/.." && pwd)
DOMAIN=bench.test BOX_PASS=bench-pass-4711 PD_PASS_=benchpass NUSERS=${NUSERS:-10}
if [ -z "${SHARED_BENCH:-}" ]; then
  SHARED_BENCH=$repo/../shared/bench
  # a git worktree: beside the main checkout
  [ -x "$SHARED_BENCH/peers/postfix-dovecot.sh" ] || SHARED_BENCH=$(cd "$repo" && cd "$(git rev-parse --git-common-dir)/../.." && pwd)/shared/bench
fi
PEER=$SHARED_BENCH/peers/postfix-dovecot.sh
[ -x "$PEER" ] || { echo "error: $PEER not found (set SHARED_BENCH)" >&2; exit 1; }
# shellcheck source=/dev/null
. "$SHARED_BENCH/lib/proctree.sh"

log() { echo "[$(date +%T)] $*" >&2; }
port_free() { ! ss -ltnH "sport = :$1" 2>/dev/null | grep -q . && ! ss -lunH "sport = :$1" 2>/dev/null | grep -q .; }
next_port=${FIRST_PORT:-7300}
pick_port() {  # sets PORT to a free port above the last one picked
  local p
  for p in $(seq "$next_port" $((next_port + 300))); do
    if port_free "$p"; then PORT=$p; next_port=$((p + 1)); return; fi
  done
  echo "error: no free port" >&2; exit 1
}

# build_tools: boxmail, imapload and fillmail into $work (or the given binaries)
build_tools() {
  local src=$repo p
  if [ -n "${BUILD_REV:-}" ]; then
    src=$work/src; mkdir -p "$src"; git -C "$repo" archive "$BUILD_REV" | tar -x -C "$src"
  fi
  for p in boxmail:./cmd/boxmail imapload:./bench/cmd/imapload fillmail:./bench/cmd/fillmail; do
    local name=${p%%:*} var; var=$(echo "${name}_BIN" | tr a-z A-Z)
    if [ -n "${!var:-}" ]; then cp "${!var}" "$work/$name"
    else (cd "$src" && CGO_ENABLED=0 go build -o "$work/$name" "${p#*:}"); fi
  done
}

# --- boxmail ---
bpid=""
# box_init: a data dir with user1..user10, every port of the config on a
# free loopback port; sets box_imap, box_smtp
box_init() {
  data=$work/data
  printf '%s\n' "$BOX_PASS" >"$work/pw"
  "$work/boxmail" init --dir "$data" --hostname "mx.$DOMAIN" --domain "$DOMAIN" --admin "admin@$DOMAIN" --password-file "$work/pw" \
    ${STORE_URL:+--store-url "$STORE_URL"} >/dev/null
  local i k
  for i in $(seq 1 "$NUSERS"); do "$work/boxmail" user add --dir "$data" --password-file "$work/pw" "user$i@$DOMAIN" >/dev/null; done
  conf=$data/boxmail.conf
  set_conf() { if grep -q "^$1 *=" "$conf"; then sed -i "s|^$1 *=.*|$1 = $2|" "$conf"; else echo "$1 = $2" >>"$conf"; fi; }
  set_conf listen 127.0.0.1
  set_conf insecure_auth true   # plain LOGIN over loopback, as against the peer
  set_conf log_level warn
  set_conf greylisting false    # the push probe must be delivered at once
  set_conf max_connections_per_ip 100000
  set_conf max_connections 100000
  # every port, including those init leaves to their standard defaults (110, 995, 4190)
  for k in $( (grep -oE '^[a-z0-9_]+_port' "$conf"; printf '%s\n' smtp_port submission_port submissions_port imap_port imaps_port \
      pop3_port pop3s_port managesieve_port dns_port http_port https_port) | sort -u); do
    pick_port; set_conf "$k" "$PORT"
    case $k in imap_port) box_imap=$PORT ;; smtp_port) box_smtp=$PORT ;; esac
  done
}
box_start() {
  "$work/boxmail" serve --dir "$data" >>"$work/serve.log" 2>&1 &
  bpid=$!
  for _ in $(seq 1 100); do port_free "$box_imap" || break; kill -0 "$bpid" 2>/dev/null || break; sleep 0.1; done
  port_free "$box_imap" && { echo "error: boxmail did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
  return 0
}
# box_start_nodes N: with STORE_URL, nodes 2..N of the box beside the
# first (box_start): copies of its data dir without the SQLite or body
# files, each on free ports of its own. Sets node_pids and box_imaps (the
# IMAP addresses of all nodes, comma-separated, for imapload -addr).
node_pids=() box_imaps=""
box_start_nodes() {
  local k d key p
  box_imaps=127.0.0.1:$box_imap
  for k in $(seq 2 "$1"); do
    d=$work/data$k; mkdir -p "$d/bodies"
    (cd "$data" && find . -type f ! -name 'boxmail.db*' ! -path './bodies/*' -exec cp --parents {} "$d" \;)
    for key in $(grep -oE '^[a-z0-9_]+_port' "$d/boxmail.conf"); do
      grep -qE "^$key *= *0\$" "$d/boxmail.conf" && continue
      pick_port; sed -i "s|^$key *=.*|$key = $PORT|" "$d/boxmail.conf"
      [ "$key" = imap_port ] && p=$PORT
    done
    "$work/boxmail" serve --dir "$d" >>"$work/serve$k.log" 2>&1 &
    node_pids+=($!)
    for _ in $(seq 1 100); do port_free "$p" || break; sleep 0.1; done
    port_free "$p" && { echo "error: boxmail node $k did not start" >&2; cat "$work/serve$k.log" >&2; exit 1; }
    box_imaps=$box_imaps,127.0.0.1:$p
  done
  return 0
}
box_stop() {
  local p
  for p in $bpid "${node_pids[@]}"; do   # only the boxmail processes started here
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null || true
      for _ in $(seq 1 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
      kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  bpid="" node_pids=()
}

# --- the peer: Postfix + Dovecot ---
peer_up=0
# a short path of its own: Dovecot's unix sockets must fit in 108 bytes
BENCH_DIR=$(mktemp -d /tmp/bxpd.XXXXXX); export BENCH_DIR
pd=$BENCH_DIR/postfix-dovecot
peer() {   # its daemons must not hold our stdout; a failure shows the end of its log
  "$PEER" "$@" >>"$work/peer.log" 2>&1 </dev/null || { echo "error: $PEER $*:" >&2; tail -5 "$work/peer.log" >&2; return 1; }
}
# peer_ports: free ports for the peer (once)
peer_ports() {
  pick_port; export PD_SMTP_PORT=$PORT; pick_port; export PD_IMAP_PORT=$PORT; pick_port; export PD_POP3_PORT=$PORT
  chmod 755 "$work"; mkdir -p "$BENCH_DIR"
}
# peer_start default|tuned [keep]: Debian's defaults (a process per
# login), or tuned: the peer's PD_TUNED=1 (service_count = 0 for the login
# and imap services) plus, reloaded in, Dovecot's auth cache and limits
# that let one server hold 1,000 IMAP connections.
peer_start() {
  local tuned=0; [ "$1" = tuned ] && tuned=1
  peer_up=1; PD_KEEP=${2:-1} PD_TUNED=$tuned peer start
  if [ $tuned = 1 ]; then
    cat >>"$pd/dovecot/dovecot.conf" <<'CF'
# bench/imap-lib.sh: tuned
auth_cache_size = 10M
auth_cache_ttl = 1 hour
auth_cache_negative_ttl = 1 hour
default_process_limit = 1200
default_client_limit = 2000
service imap-login {
  process_min_avail = 2
  client_limit = 2000
}
service imap {
  process_limit = 1200
  process_min_avail = 10
}
CF
    doveadm -c "$pd/dovecot/dovecot.conf" reload >>"$work/peer.log" 2>&1
    sleep 2
  fi
  pd_pid=$(cat "$pd/run/master.pid")
}
peer_stop() { [ $peer_up = 1 ] && { peer stop || true; }; peer_up=0; }

# cpu_ticks PID...: CPU ticks (1/CLK_TCK s) of the trees, reaped children
# included; mem_kb PID...: "rss_kb pss_kb" of the trees. (proctree.sh runs
# under pipefail: a process exiting during its /proc scan fails its cat,
# though the sum is complete.)
# cpu_ticks: tree_cpu_ticks, again when a process that exited during its
# /proc scan broke it (a busy machine)
# (x when every try failed: the CPU figure is then reported as -)
cpu_ticks() { local v _; for _ in $(seq 1 20); do v=$(tree_cpu_ticks "$@" 2>/dev/null) && { echo "$v"; return; }; done; echo x; }
mem_kb() { tree_mem_kb "$@" || true; }
clk_tck=$(getconf CLK_TCK)

imap_cleanup() {
  box_stop
  peer_stop
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $work $BENCH_DIR" >&2; else rm -rf "$work" "$BENCH_DIR"; fi
}

machine_line() {
  echo "Machine: $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r); load average $1."
}
