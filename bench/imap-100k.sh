#!/usr/bin/env bash
# IMAP on a 100,000-message mailbox, side by side (issue 18): boxmail,
# Dovecot 2.3 with Debian's defaults and a tuned Dovecot (bench/imap-lib.sh),
# on loopback, the same client (bench/cmd/imapload) for all.
#
#  - user1's INBOX gets MSGS messages written straight into each server's
#    storage (bench/cmd/fillmail: boxmail's store, Dovecot's Maildir/new),
#    then all but the newest 100 are marked \Seen over IMAP (timed);
#  - ROUNDS rounds on new connections: SELECT, FETCH 1:* (FLAGS),
#    UID SEARCH UNSEEN, UID SEARCH FROM "sender42@" (medians; the first
#    SELECT ever is reported apart: Dovecot builds its index then);
#  - IDLE push: an IDLE session on that INBOX, PUSH_N messages over SMTP
#    (boxmail's port 25 stand-in; Postfix, then LMTP, for Dovecot), the
#    time from each 250 to the EXISTS;
#  - idle memory: CONNS connections in IDLE on users 2..10 (20 messages
#    each), from 100 loopback source addresses; the growth of the server's
#    process tree's RSS and PSS over the same tree idle, per connection.
#
# usage: bench/imap-100k.sh    env: MSGS=100000 ROUNDS=3 PUSH_N=10 CONNS=1000
#        ROWS_OUT=file OUT=file (the markdown; else stdout only)
# Every loop is bounded in count and time; stops only what it started.
set -euo pipefail
MSGS=${MSGS:-100000} ROUNDS=${ROUNDS:-3} PUSH_N=${PUSH_N:-10} CONNS=${CONNS:-1000}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/boxmail-imap100k.XXXXXX")
# shellcheck source=bench/imap-lib.sh
. "$here/imap-lib.sh"
trap imap_cleanup EXIT
trap 'exit 130' INT TERM

log "building boxmail, bench/cmd/imapload and bench/cmd/fillmail"
build_tools
box_init
log "filling boxmail's store with $MSGS messages"
"$work/fillmail" -store "$data" -account "user1@$DOMAIN" -n "$MSGS" 2>>"$work/fill.log"
box_start
peer_ports
peer_start default 0; peer_stop   # writes the peer's configs, wipes old mail
log "filling Dovecot's Maildir with $MSGS messages"
"$work/fillmail" -maildir "$pd/mail/$DOMAIN/user1/Maildir" -n "$MSGS" 2>>"$work/fill.log"
chown -R mail:mail "$pd/mail"
: >"$work/rows"

# measure NAME IMAP_PORT SMTP_PORT PASS FIRST ROOTPID: every figure of one server
measure() {
  local name=$1 port=$2 smtp=$3 pass=$4 first=$5 root=$6 r
  local L="$work/imapload"
  if [ "$first" = 1 ]; then
    log "$name: users 2..10 get 20 messages each; \\Seen on all but 100 of user1's"
    "$L" setup -addr "127.0.0.1:$port" -users 2-10 -pass "$pass" -n 20 >&2
    r=$("$L" big -addr "127.0.0.1:$port" -user "user1@$DOMAIN" -pass "$pass" -rounds 1)   # the first SELECT ever
    echo "$name first $r" >>"$work/rows"
    echo "$name seen $("$L" seen -addr "127.0.0.1:$port" -user "user1@$DOMAIN" -pass "$pass" -n 100)" >>"$work/rows"
  fi
  log "$name: $ROUNDS rounds of SELECT, FETCH 1:* (FLAGS), UID SEARCH"
  echo "$name big $("$L" big -addr "127.0.0.1:$port" -user "user1@$DOMAIN" -pass "$pass" -rounds "$ROUNDS")" >>"$work/rows"
  log "$name: IDLE push, $PUSH_N messages"
  echo "$name push $("$L" push -addr "127.0.0.1:$port" -smtp "127.0.0.1:$smtp" -user "user1@$DOMAIN" -pass "$pass" -rcpt "user1@$DOMAIN" -n "$PUSH_N")" >>"$work/rows"
  log "$name: $CONNS connections in IDLE"
  sleep 2
  local before after held=0 out=$work/hold-$name
  before=$(mem_kb "$root")
  "$L" hold -addr "127.0.0.1:$port" -users 2-10 -pass "$pass" -n "$CONNS" -srcs 100 -hold 8s -within 150s >"$out" 2>&1 &
  local hpid=$!
  for _ in $(seq 1 400); do grep -q '^held=' "$out" && break; kill -0 $hpid 2>/dev/null || break; sleep 0.5; done
  sleep 3
  after=$(mem_kb "$root")
  wait $hpid || true
  held=$(sed -n 's/^held=\([0-9]*\).*/\1/p' "$out"); held=${held:-0}
  awk -v n="$name" -v b="$before" -v a="$after" -v h="$held" -v line="$(grep -v '^held=' "$out" | head -1)" 'BEGIN {
    split(b, x, " "); split(a, y, " ")
    printf "%s hold conns=%d rss_kib_per_conn=%.1f pss_kib_per_conn=%.1f rss_before_mib=%.1f rss_after_mib=%.1f pss_after_mib=%.1f",
      n, h, (h ? (y[1] - x[1]) / h : 0), (h ? (y[2] - x[2]) / h : 0), x[1] / 1024, y[1] / 1024, y[2] / 1024
    if (line != "") printf " note=\"%s\"", line; printf "\n" }' >>"$work/rows"
  tail -1 "$work/rows" >&2
}

log "boxmail"
measure boxmail "$box_imap" "$box_smtp" "$BOX_PASS" 1 "$bpid"
box_stop
for mode in default tuned; do
  name=dovecot first=1; [ $mode = tuned ] && name=dovecot-tuned first=0
  log "$name"
  peer_start "$mode"
  measure "$name" "$PD_IMAP_PORT" "$PD_SMTP_PORT" "$PD_PASS_" "$first" "$pd_pid"
  peer_stop
done
load=$(cut -d' ' -f1-3 /proc/loadavg)
[ -n "${ROWS_OUT:-}" ] && cp "$work/rows" "$ROWS_OUT"

get() { awk -v s="$1" -v p="$2" -v k="$3" '$1 == s && $2 == p { for (i = 3; i <= NF; i++) { split($i, a, "="); if (a[1] == k) { print a[2]; exit } } }' "$work/rows"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "" || b == "") print "-"; else printf "%.2f", a / b }'; }
row() {  # row LABEL PART KEY [GOAL]
  local b d t; b=$(get boxmail "$2" "$3") d=$(get dovecot "$2" "$3") t=$(get dovecot-tuned "$2" "$3")
  echo "| $1 | ${b:--} | ${d:--} | ${t:--} | $(ratio "$b" "$d") | $(ratio "$b" "$t") | ${4:-} |"
}
{
  echo "### IMAP on a $MSGS-message INBOX (bench/imap-100k.sh)"
  echo
  echo "Times in ms (medians of $ROUNDS rounds on new connections, after the first SELECT ever); the same client for all."
  echo "dovecot-tuned shares dovecot's Maildir and index (it runs after it), so its first SELECT is not shown."
  echo
  echo "| figure | boxmail | dovecot | dovecot-tuned | boxmail / dovecot | boxmail / tuned | goal |"
  echo "|---|---|---|---|---|---|---|"
  row "first SELECT ever" first select_first_ms
  row "STORE 1:$((MSGS - 100)) +FLAGS.SILENT (\\Seen)" seen store_seen_ms
  row "SELECT" big select_ms "< 20 ms"
  row "FETCH 1:* (FLAGS)" big fetch_flags_ms "<= 0.5x dovecot"
  row "UID SEARCH UNSEEN" big search_unseen_ms "<= 0.5x dovecot"
  row "UID SEARCH FROM \"sender42@\"" big search_from_ms "<= 0.5x dovecot"
  row "IDLE push after the 250, p50 ($PUSH_N messages)" push push_p50_ms "< 50 ms"
  row "IDLE push, max" push push_max_ms
  row "IDLE connections held (of $CONNS)" hold conns
  row "RSS KiB per idle IDLE connection" hold rss_kib_per_conn "<= 40 KiB"
  row "PSS KiB per idle IDLE connection" hold pss_kib_per_conn
  echo
  echo "Results agree: $(awk '$2 == "big" { s = ""; for (i = 3; i <= NF; i++) if ($i ~ /^(flags_n|unseen_n|from_n)=/) s = s " " $i; print $1 ":" s }' "$work/rows" | paste -sd';')."
  echo "Load average at the end: $load."
  echo
  echo '```'; cat "$work/rows"; echo '```'
} | tee "${OUT:-/dev/null}"
