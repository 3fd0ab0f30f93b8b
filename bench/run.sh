#!/usr/bin/env bash
# The benchmark suite of issue 9 (`make bench`): boxmail against the
# reference Postfix + Dovecot (../shared/bench/peers/postfix-dovecot.sh) on
# loopback, on this machine, and a report in bench/results/DATE.md.
#
#  1. SMTP ingest, ROUNDS alternating rounds each (bench/compare.sh, which
#     drives bench/smtp-ingest.sh and the shared smtp-source harness):
#     2,000 x 4 KiB over 8 sessions, then 200 x 1 MiB over 8 sessions.
#  2. IMAP on a mailbox of IMAP_MSGS (100,000) messages in each server,
#     written straight into boxmail's store and into Dovecot's Maildir by
#     bench/cmd/fillmail, timed by the same client (bench/cmd/imapbench)
#     against boxmail, Dovecot with Debian's defaults and Dovecot with
#     process reuse (PD_TUNED=1), ROUNDS alternating rounds.
#  3. Idle memory: boxmail with every protocol it serves up (SMTP,
#     submission(s), IMAP(S), DNS, HTTP(S), and POP3 / ManageSieve when its
#     config has them) against the sum over Postfix's and Dovecot's processes.
#  4. The IMAP figures of issue 18, each script with its own servers:
#     bench/imap-mixed.sh (10-client mixed load: ops/s, server CPU per op)
#     and bench/imap-100k.sh (SELECT, FETCH 1:* (FLAGS), UID SEARCH on
#     100,000 messages, IDLE push after the 250, RSS per idle IDLE
#     connection over 1,000), against boxmail, Dovecot's defaults and a
#     tuned Dovecot.
#
# usage: bench/run.sh           (make bench)
# env:   ROUNDS=3  IMAP_MSGS=100000  OUT=bench/results/<UTC date>.md
#        BUILD_REV=HEAD   git revision to build (git archive: committed code
#                         only); BUILD_REV= (empty) builds the working tree
#        PARTS="ingest imap imap-mixed imap-100k"   run only some parts (the idle
#                         figures come with imap)
#        SHARED_BENCH=<repo>/../shared/bench
# Takes about 20-25 minutes on a 2-core VM. Stops only what it started.
set -euo pipefail
ROUNDS=${ROUNDS:-3} IMAP_MSGS=${IMAP_MSGS:-100000} PARTS=${PARTS:-ingest imap imap-mixed imap-100k}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
SHARED_BENCH=${SHARED_BENCH:-$repo/../shared/bench}
if [ ! -x "$SHARED_BENCH/peers/postfix-dovecot.sh" ]; then   # a git worktree: beside the main checkout
  SHARED_BENCH=$(cd "$repo" && cd "$(git rev-parse --git-common-dir)/../.." && pwd)/shared/bench
fi
PEER=$SHARED_BENCH/peers/postfix-dovecot.sh
[ -x "$PEER" ] || { echo "error: $PEER not found (set SHARED_BENCH)" >&2; exit 1; }
SHARED_BENCH=$(cd "$SHARED_BENCH" && pwd); PEER=$SHARED_BENCH/peers/postfix-dovecot.sh
# shellcheck source=/dev/null
. "$SHARED_BENCH/lib/proctree.sh"
OUT=${OUT:-$repo/bench/results/$(date -u +%F).md}
BUILD_REV=${BUILD_REV-HEAD}
DOMAIN=bench.test PASS=bench-pass-4711

work=$(mktemp -d "${TMPDIR:-/tmp}/boxmail-benchsuite.XXXXXX")
chmod 755 "$work"   # the peer's postfix and dovecot users must reach its dirs
bpid="" peer_up=0
export BENCH_DIR=$work/peer
stop_boxmail() {
  if [ -n "$bpid" ] && kill -0 "$bpid" 2>/dev/null; then
    kill -TERM "$bpid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$bpid" 2>/dev/null && kill -KILL "$bpid" 2>/dev/null || true
    wait "$bpid" 2>/dev/null || true
  fi
  bpid=""
}
peer() { "$PEER" "$@" >>"$work/peer.log" 2>&1 </dev/null; }   # its daemons must not hold our stdout
cleanup() {
  stop_boxmail
  [ $peer_up = 1 ] && { peer stop || true; }
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "[$(date +%T)] $*" >&2; }

port_free() { ! ss -ltnH "sport = :$1" 2>/dev/null | grep -q . && ! ss -lunH "sport = :$1" 2>/dev/null | grep -q .; }
next_port=7000
pick_port() {  # sets PORT to a free port above the last one picked
  local p
  for p in $(seq "$next_port" $((next_port + 200))); do
    if port_free "$p"; then PORT=$p; next_port=$((p + 1)); return; fi
  done
  echo "error: no free port" >&2; exit 1
}

# --- build (committed code unless BUILD_REV is empty) ---
src=$repo commit=$(git -C "$repo" rev-parse --short HEAD)
if [ -n "$BUILD_REV" ]; then
  src=$work/src; mkdir "$src"
  git -C "$repo" archive "$BUILD_REV" | tar -x -C "$src"
  commit=$(git -C "$repo" rev-parse --short "$BUILD_REV")
else
  git -C "$repo" diff --quiet HEAD -- cmd internal || commit="$commit+dirty"
fi
log "building boxmail $commit and the bench tools"
for p in boxmail:./cmd/boxmail fillmail:./bench/cmd/fillmail imapbench:./bench/cmd/imapbench imapload:./bench/cmd/imapload; do
  (cd "$src" && CGO_ENABLED=0 go build -o "$work/${p%%:*}" "${p#*:}")
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "-" || b == "-") print "-"; else printf "%.2f", a / b }'; }
# verdict VALUE OP LIMIT: "met" or "**missed**"
verdict() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { if (v == "-") { print "-"; exit }
  ok = (op == "<=" ? v <= l : v >= l); print (ok ? "met" : "**missed**") }'; }

# --- 1. SMTP ingest ---
ingest_md=""
if [[ " $PARTS " == *" ingest "* ]]; then
  for spec in "2000 8 4096 4k" "200 8 1048576 1m"; do
    read -r n c s tag <<<"$spec"
    log "SMTP ingest $n x $s B over $c sessions, $ROUNDS rounds each"
    # BUILD_REV/BOXMAIL_BIN: compare.sh's rounds use the binary built above.
    (export BOXMAIL_BIN=$work/boxmail IMAP_CHECK=0 OUT=$work/ingest-$tag.md ROWS_OUT=$work/ingest-$tag.rows
     [ -n "$BUILD_REV" ] && export BUILD_REV
     TMPDIR=$work "$here/compare.sh" "$ROUNDS" "$n" "$c" "$s" >/dev/null) || { echo "error: ingest $tag failed" >&2; exit 1; }
  done
  ingest_md=1
fi

# --- 2. IMAP on 100,000 messages, and 3. idle memory ---
imap_md=""
if [[ " $PARTS " == *" imap "* ]]; then
  data=$work/data
  printf '%s\n' "$PASS" >"$work/pw"
  "$work/boxmail" init --dir "$data" --hostname "mx.$DOMAIN" --domain "$DOMAIN" --admin "admin@$DOMAIN" --password-file "$work/pw" >/dev/null
  "$work/boxmail" user add --dir "$data" --password-file "$work/pw" "user1@$DOMAIN" >/dev/null
  conf=$data/boxmail.conf
  set_conf() { if grep -q "^$1 *=" "$conf"; then sed -i "s|^$1 *=.*|$1 = $2|" "$conf"; else echo "$1 = $2" >>"$conf"; fi; }
  set_conf listen 127.0.0.1
  set_conf insecure_auth true   # imapbench logs in without TLS (loopback only)
  set_conf log_level warn
  protos=()
  # every *_port key the config knows, and those init leaves to their
  # standard defaults: all protocols up, each on a free port
  for k in $( (grep -oE '^[a-z0-9_]+_port' "$conf"; printf '%s\n' pop3_port pop3s_port managesieve_port) | sort -u); do
    pick_port; set_conf "$k" "$PORT"; protos+=("${k%_port}")
    [ "$k" = imap_port ] && imap_port=$PORT
  done
  log "filling boxmail's store with $IMAP_MSGS messages"
  t0=$(date +%s.%N)
  "$work/fillmail" -store "$data" -account "user1@$DOMAIN" -n "$IMAP_MSGS" 2>>"$work/fill.log"
  fill_box=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

  log "filling Dovecot's Maildir with $IMAP_MSGS messages"
  pick_port; export PD_SMTP_PORT=$PORT; pick_port; export PD_IMAP_PORT=$PORT; pick_port; export PD_POP3_PORT=$PORT
  mkdir -p "$BENCH_DIR"
  peer_up=1; PD_KEEP=0 peer start; peer stop; peer_up=0   # writes the configs, wipes old mail
  pdmail=$BENCH_DIR/postfix-dovecot/mail
  t0=$(date +%s.%N)
  "$work/fillmail" -maildir "$pdmail/$DOMAIN/user1/Maildir" -n "$IMAP_MSGS" 2>>"$work/fill.log"
  chown -R mail:mail "$pdmail"
  fill_pd=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

  log "starting boxmail serve (${protos[*]})"
  "$work/boxmail" serve --dir "$data" >"$work/serve.log" 2>&1 &
  bpid=$!
  for _ in $(seq 1 100); do port_free "$imap_port" || break; kill -0 "$bpid" 2>/dev/null || break; sleep 0.1; done
  port_free "$imap_port" && { echo "error: boxmail did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
  sleep 3   # idle: started, nothing asked yet
  read -r box_idle_rss box_idle_pss < <(tree_mem_kb "$bpid")
  open_ports=$(ss -ltnpH 2>/dev/null | grep -c "pid=$bpid," || true)

  : >"$work/imap.rows"
  pd_idle=""
  for r in $(seq 1 "$ROUNDS"); do
    log "IMAP round $r/$ROUNDS: boxmail"
    echo "boxmail $r $("$work/imapbench" -addr "127.0.0.1:$imap_port" -user "user1@$DOMAIN" -pass "$PASS")" >>"$work/imap.rows"
    for tuned in 0 1; do
      name=dovecot; [ $tuned = 1 ] && name=dovecot-tuned
      log "IMAP round $r/$ROUNDS: $name"
      peer_up=1; PD_KEEP=1 PD_TUNED=$tuned peer start
      eval "$("$PEER" info)"
      if [ "$r" = 1 ]; then   # idle memory of the whole peer, every daemon up (SMTP, LMTP, IMAP, POP3)
        sleep 3; read -r rss pss < <(tree_mem_kb $PIDS); pd_idle="$pd_idle $name:$rss:$pss"
      fi
      echo "$name $r $("$work/imapbench" -addr "127.0.0.1:$IMAP_PORT" -user "user1@$DOMAIN" -pass benchpass)" >>"$work/imap.rows"
      peer stop; peer_up=0
    done
  done
  box_hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$bpid/status")
  stop_boxmail
  grep -q 'level=ERROR' "$work/serve.log" && { echo "boxmail logged errors:" >&2; grep 'level=ERROR' "$work/serve.log" | head -5 >&2; }
  imap_md=1
fi

# --- 4. the IMAP figures of issue 18 (each script starts its own servers) ---
issue18_md=""
for part in imap-mixed imap-100k; do
  [[ " $PARTS " == *" $part "* ]] || continue
  log "IMAP: bench/$part.sh"
  (export BOXMAIL_BIN=$work/boxmail IMAPLOAD_BIN=$work/imapload FILLMAIL_BIN=$work/fillmail SHARED_BENCH ROUNDS \
     MSGS=$IMAP_MSGS OUT=$work/$part.md
   TMPDIR=$work "$here/$part.sh" >/dev/null) || { echo "error: bench/$part.sh failed" >&2; exit 1; }
  issue18_md="$issue18_md $work/$part.md"
done

# --- the report ---
kvs() { awk -v s="$1" -v k="$2" '$1 == s { for (i = 3; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' "$work/imap.rows"; }
kvr() { awk -v s="$1" -v k="$2" -v r="$3" '$1 == s && $2 == r { for (i = 3; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' "$work/imap.rows"; }
col() { awk -v s="$1" -v c="$2" '$1 == s { print $c }' "$3" | median; }
mkdir -p "$(dirname "$OUT")"
{
  echo "# Benchmark suite: boxmail vs Postfix + Dovecot, $(date -u +%F)"
  echo
  echo "\`make bench\` (bench/run.sh, ROUNDS=$ROUNDS): boxmail $commit ($(go version | awk '{ print $3 }'), built with CGO_ENABLED=0"
  echo "from $([ -n "$BUILD_REV" ] && echo "git archive $BUILD_REV, committed code only" || echo "the working tree")) against the reference Postfix + Dovecot"
  echo "(../shared/bench/peers/postfix-dovecot.sh, Debian's packages: $(dpkg-query -W -f='postfix ${Version}' postfix 2>/dev/null), $(dpkg-query -W -f='dovecot ${Version}' dovecot-core 2>/dev/null)), all on loopback, fsync on in both."
  echo "Medians of $ROUNDS rounds, the servers alternating within each round. Ratios are boxmail / peer."
  echo
  echo "Machine: $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo),"
  echo "Linux $(uname -r), data on $(df -T "$work" | awk 'NR == 2 { print $2 }'), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "The machine is shared with other engineers' builds and tests; compare only within this file."
  if [ -n "$ingest_md" ]; then
    echo
    echo "## SMTP ingest (smtp-source, one message per connection, 8 sessions)"
    echo
    echo "End to end = until every message is countable (peer: Maildir files; boxmail: rows, read-only: bench/cmd/countmsgs)."
    echo "CPU = the server's whole process tree; peak RSS/PSS = sampled every 0.2 s over the tree (boxmail: one process)."
    echo
    echo "| load | boxmail msgs/s | peer msgs/s | ratio (target >= 3) | boxmail CPU ms/msg | peer CPU ms/msg | ratio (target <= 0.25) | boxmail peak RSS MiB (target <= 60) | peer peak PSS / RSS MiB |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for tag in 4k 1m; do
      f=$work/ingest-$tag.rows; label="2,000 x 4 KiB"; [ $tag = 1m ] && label="200 x 1 MiB"
      be=$(col boxmail 3 "$f") pe=$(col postfix-dovecot 3 "$f") bc=$(col boxmail 5 "$f") pc=$(col postfix-dovecot 5 "$f")
      br=$(col boxmail 6 "$f") pr=$(col postfix-dovecot 6 "$f") pp=$(col postfix-dovecot 7 "$f")
      er=$(ratio "$be" "$pe") cr=$(ratio "$bc" "$pc")
      echo "| $label | $be | $pe | **${er}x** $(verdict "$er" ">=" 3) | $bc | $pc | **${cr}x** $(verdict "$cr" "<=" 0.25) | $br $(verdict "$br" "<=" 60) | $pp / $pr |"
    done
    echo
    echo "<details><summary>every round (server round e2e-msgs/s accept-msgs/s cpu-ms/msg rss pss idle mode hwm)</summary>"
    echo
    for tag in 4k 1m; do echo '```'; echo "# $tag"; cat "$work/ingest-$tag.rows"; echo '```'; done
    echo "</details>"
  fi
  if [ -n "$imap_md" ]; then
    echo
    echo "## IMAP on a $IMAP_MSGS-message INBOX"
    echo
    echo "Filled directly (bench/cmd/fillmail: ~2.5 KiB text messages): boxmail's store in ${fill_box}s, Dovecot's Maildir/new in ${fill_pd}s;"
    echo "each server indexes on its own. Same client for all (bench/cmd/imapbench, Go, plain IMAP over loopback), times in ms."
    echo "dovecot = Debian defaults (a new imap process per login); dovecot-tuned = PD_TUNED=1 (process reuse)."
    echo "Targets: boxmail at least as fast as dovecot (ratio <= 1) and within 1.5x of dovecot-tuned."
    echo
    echo "| operation | boxmail | dovecot | dovecot-tuned | boxmail / dovecot (<= 1) | boxmail / tuned (<= 1.5) |"
    echo "|---|---|---|---|---|---|"
    first_pd=$(kvr dovecot select1_ms 1)
    echo "| first SELECT ever (Dovecot builds its index; boxmail just started) | $(kvr boxmail select1_ms 1) | $first_pd | - | $(ratio "$(kvr boxmail select1_ms 1)" "$first_pd") | - |"
    for op in "select2_ms:SELECT (index built; new connection)" "fetch_flags_ms:FETCH 1:* (FLAGS)" "fetch_full_ms:FETCH 100 x BODY.PEEK[]" \
              "search_subject_ms:UID SEARCH SUBJECT (whole mailbox)" "search_body_ms:SEARCH 1:10000 BODY" "login_ms:LOGIN (boxmail: bcrypt; peer: PLAIN file) - no target"; do
      k=${op%%:*} label=${op#*:}
      b=$(kvs boxmail "$k" | median) d=$(kvs dovecot "$k" | median) t=$(kvs dovecot-tuned "$k" | median)
      r1=$(ratio "$b" "$d") r2=$(ratio "$b" "$t")
      if [ "$k" = login_ms ]; then echo "| $label | $b | $d | $t | $r1 | $r2 |"
      else echo "| $label | $b | $d | $t | ${r1} $(verdict "$r1" "<=" 1) | ${r2} $(verdict "$r2" "<=" 1.5) |"; fi
    done
    echo
    echo "Results agree: $(awk '{ s = ""; for (i = 3; i <= NF; i++) if ($i ~ /^(exists|flags_n|full_bytes|subject_hits|body_hits)=/) s = s " " $i; print $1 ":" s }' "$work/imap.rows" | sort -u | paste -sd';')."
    echo "boxmail's peak RSS over the IMAP runs (VmHWM): $(awk -v k="$box_hwm" 'BEGIN { printf "%.1f", k / 1024 }') MiB."
    echo
    echo "<details><summary>every round</summary>"
    echo
    echo '```'; cat "$work/imap.rows"; echo '```'
    echo "</details>"
    echo
    echo "## Idle memory, every protocol up"
    echo
    echo "boxmail: one process serving ${protos[*]} ($open_ports TCP listeners; DNS also on UDP), 3 s after start."
    echo "Postfix + Dovecot: every process of both trees (master, qmgr, pickup, dovecot, anvil, log, config, ...), 3 s after start; SMTP, LMTP, IMAP, POP3."
    echo
    echo "| | RSS MiB | PSS MiB |"
    echo "|---|---|---|"
    echo "| boxmail (target <= 25 MiB) | $(awk -v k="$box_idle_rss" 'BEGIN { printf "%.1f", k / 1024 }') $(verdict "$(awk -v k="$box_idle_rss" 'BEGIN { print k / 1024 }')" "<=" 25) | $(awk -v k="$box_idle_pss" 'BEGIN { printf "%.1f", k / 1024 }') |"
    for e in $pd_idle; do
      IFS=: read -r n rss pss <<<"$e"
      echo "| Postfix + $n (sum) | $(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }') | $(awk -v k="$pss" 'BEGIN { printf "%.1f", k / 1024 }') |"
    done
  fi
  if [ -n "$issue18_md" ]; then
    echo
    echo "## IMAP figures of issue 18"
    for f in $issue18_md; do echo; cat "$f"; done
  fi
} >"$OUT"
cat "$OUT"
log "wrote $OUT"
