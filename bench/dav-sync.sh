#!/usr/bin/env bash
# Issue 20's DAV benchmark: vdirsyncer's initial sync of N contacts and N
# events, then an incremental sync after CHANGES changes made on the
# server, against boxmail and Debian's Radicale side by side in the same
# run (alternating, ROUNDS rounds, medians). Both servers are filled
# before the clock starts (boxmail by 'migrate import --vcf/--ics',
# Radicale by writing its filesystem storage) and warmed by one untimed
# sync; every timed initial sync starts from empty local directories and
# an empty vdirsyncer status. Then one counted incremental sync per
# server through a byte-counting TCP proxy with vdirsyncer's debug log:
# requests, bytes on the wire, and how many vCards/events came down.
# Last, the sync-collection REPORT (RFC 6578, what DAVx5 and iOS use) with
# the token from before the changes, by curl: its answer's size.
#
# Needs: go, vdirsyncer, radicale, curl, openssl, python3 (Debian's).
# Env: N=5000 CHANGES=10 ROUNDS=3 OUT=bench/results/dav-<date>.md
#      BOXMAIL_BIN (a built binary), KEEP=1 keeps the temp dir.
# Starts and stops only its own processes, by PID; loopback only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
N=${N:-5000} CHANGES=${CHANGES:-10} ROUNDS=${ROUNDS:-3}
OUT=${OUT:-$repo/bench/results/dav-$(date -u +%F).md}
PY=/usr/bin/python3
for t in vdirsyncer radicale curl openssl "$PY"; do command -v "$t" >/dev/null || { echo "error: $t is needed" >&2; exit 1; }; done
work=$(mktemp -d /tmp/davbench.XXXXXX)
# vdirsyncer's side (its files and status) on tmpfs: it fsyncs every file
# it writes, and on a shared disk that, not the server, would be timed.
clientdir=$(mktemp -d "${CLIENT_TMP:-/dev/shm}/davbench-client.XXXXXX")
bpid="" rpid="" ppid_=""
stop_pid() { if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi; }
cleanup() {
  stop_pid "$bpid"; stop_pid "$rpid"; stop_pid "$ppid_"
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $work $clientdir" >&2; else rm -rf "$work" "$clientdir"; fi
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }
port_free() { ! ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }
next_port=${FIRST_PORT:-7700}
pick_port() { local p; for p in $(seq "$next_port" $((next_port + 500))); do
  if port_free "$p"; then PORT=$p; next_port=$((p + 1)); return; fi; done; echo "error: no free port" >&2; exit 1; }
cpu_ticks() { awk '{ r = $0; sub(/.*\) /, "", r); split(r, a, " "); print a[12] + a[13] + a[14] + a[15] }' "/proc/$1/stat"; }
clk=$(getconf CLK_TCK)
now_ms() { date +%s%3N; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the data: N vCards and N events, as import files and as Radicale's storage ---
USER_=admin@bench.test PASS=bench-pass-4711
log "generating $N contacts and $N events"
"$PY" - "$work" "$N" "$USER_" <<'PY'
import json, os, sys
work, n, user = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def card(i, rev=0):
    return ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c-%05d\r\nFN:Person %d%s\r\nN:%d;Person;;;\r\n"
            "EMAIL;TYPE=INTERNET:person%d@example.org\r\nTEL;TYPE=CELL:+1 555 %07d\r\n"
            "ADR;TYPE=HOME:;;%d Main Street;Springfield;;12345;USA\r\nNOTE:Met at the party number %d\r\nEND:VCARD\r\n") % (i, i, " v%d" % rev if rev else "", i, i, i, i, i)
def event(i, rev=0):
    d = 1 + i % 28; m = 1 + (i // 28) % 12; h = i % 20
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\nUID:e-%05d\r\nDTSTAMP:20260101T000000Z\r\n"
            "DTSTART:2026%02d%02dT%02d0000Z\r\nDTEND:2026%02d%02dT%02d3000Z\r\nSUMMARY:Event %d%s\r\nLOCATION:Room %d\r\n"
            "DESCRIPTION:Bring the notes for item %d\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n") % (i, m, d, h, m, d, h, i, " v%d" % rev if rev else "", i % 50, i)
with open(os.path.join(work, "all.vcf"), "w", newline="") as f:
    for i in range(n): f.write(card(i))
with open(os.path.join(work, "all.ics"), "w", newline="") as f:
    f.write("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n")
    for i in range(n):
        e = event(i); f.write(e[e.index("BEGIN:VEVENT"):e.index("END:VCALENDAR")])
    f.write("END:VCALENDAR\r\n")
root = os.path.join(work, "radicale", "collection-root", user)
for coll, tag, gen, ext, pre in (("contacts", "VADDRESSBOOK", card, ".vcf", "c"), ("calendar", "VCALENDAR", event, ".ics", "e")):
    d = os.path.join(root, coll); os.makedirs(d)
    props = {"tag": tag}
    if tag == "VCALENDAR": props["C:supported-calendar-component-set"] = "VEVENT"
    json.dump(props, open(os.path.join(d, ".Radicale.props"), "w"))
    for i in range(n):
        with open(os.path.join(d, "%s-%05d%s" % (pre, i, ext)), "w", newline="") as f: f.write(gen(i))
PY

# --- boxmail ---
box_rev="a given binary ($BOXMAIL_BIN)"
if [ -n "${BOXMAIL_BIN:-}" ]; then cp "$BOXMAIL_BIN" "$work/boxmail"; else
  box_rev=$(cd "$repo" && git rev-parse --short HEAD)$(cd "$repo" && git diff --quiet HEAD -- . || echo "+changes")
  (cd "$repo" && CGO_ENABLED=0 go build -o "$work/boxmail" ./cmd/boxmail)
fi
data=$work/data
printf '%s\n' "$PASS" >"$work/pw"
"$work/boxmail" init --dir "$data" --hostname mx.bench.test --domain bench.test --admin "$USER_" --password-file "$work/pw" >/dev/null
conf=$data/boxmail.conf
set_conf() { if grep -q "^$1 *=" "$conf"; then sed -i "s|^$1 *=.*|$1 = $2|" "$conf"; else echo "$1 = $2" >>"$conf"; fi; }
set_conf listen 127.0.0.1
set_conf log_level warn
for k in $( (grep -oE '^[a-z0-9_]+_port' "$conf"; printf '%s\n' smtp_port submission_port submissions_port imap_port imaps_port \
    pop3_port pop3s_port managesieve_port dns_port http_port https_port) | sort -u); do
  pick_port; set_conf "$k" "$PORT"; [ "$k" = https_port ] && box_https=$PORT
done
log "importing into boxmail"
"$work/boxmail" migrate import "$USER_" --dir "$data" --vcf "$work/all.vcf" --ics "$work/all.ics" >"$work/import.log"
"$work/boxmail" serve --dir "$data" >>"$work/serve.log" 2>&1 &
bpid=$!

# --- Radicale ---
pick_port; rad_port=$PORT
printf '%s:%s\n' "$USER_" "$PASS" >"$work/htpasswd"
cat >"$work/radicale.conf" <<EOF
[server]
hosts = 127.0.0.1:$rad_port
[auth]
type = htpasswd
htpasswd_filename = $work/htpasswd
htpasswd_encryption = plain
[storage]
filesystem_folder = $work/radicale
[rights]
type = owner_only
[logging]
level = warning
EOF
radicale -C "$work/radicale.conf" >>"$work/radicale.log" 2>&1 &
rpid=$!
for _ in $(seq 1 100); do ! port_free "$box_https" && ! port_free "$rad_port" && break; sleep 0.1; done
port_free "$box_https" && { echo "error: boxmail did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
port_free "$rad_port" && { echo "error: radicale did not start" >&2; cat "$work/radicale.log" >&2; exit 1; }
fp=$(openssl s_client -connect "127.0.0.1:$box_https" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2)

box_url=https://127.0.0.1:$box_https box_card=/dav/$USER_/contacts/default/ box_cal=/dav/$USER_/calendars/default/
rad_url=http://127.0.0.1:$rad_port rad_card=/$USER_/contacts/ rad_cal=/$USER_/calendar/

# vconf SERVER DIR [BASE]: a vdirsyncer config syncing SERVER's address
# book and calendar (collections = null: the URLs are the collections)
# with DIR; BASE replaces the server's URL (the counting proxy).
vconf() {
  local s=$1 d=$2 base card cal extra=""
  if [ "$s" = box ]; then base=${3:-$box_url} card=$box_card cal=$box_cal extra="verify_fingerprint = \"$fp\""
  else base=${3:-$rad_url} card=$rad_card cal=$rad_cal; fi
  mkdir -p "$d/contacts" "$d/calendar"
  cat >"$d/config" <<EOF
[general]
status_path = "$d/status"
[pair contacts]
a = "srv_contacts"
b = "loc_contacts"
collections = null
[pair calendar]
a = "srv_calendar"
b = "loc_calendar"
collections = null
[storage srv_contacts]
type = "carddav"
url = "$base$card"
username = "$USER_"
password = "$PASS"
$extra
[storage srv_calendar]
type = "caldav"
url = "$base$cal"
username = "$USER_"
password = "$PASS"
$extra
[storage loc_contacts]
type = "filesystem"
path = "$d/contacts"
fileext = ".vcf"
[storage loc_calendar]
type = "filesystem"
path = "$d/calendar"
fileext = ".ics"
EOF
  vdirsyncer -c "$d/config" discover </dev/null >>"$d/discover.log" 2>&1 || { echo "error: vdirsyncer discover against $s failed:" >&2; tail -20 "$d/discover.log" >&2; exit 1; }
}

# vsync SERVER DIR: one timed 'vdirsyncer sync'; prints "wall_ms server_cpu_ms"
vsync() {
  local s=$1 d=$2 pid t0 c0 t1 c1
  pid=$bpid; [ "$s" = rad ] && pid=$rpid
  c0=$(cpu_ticks "$pid"); t0=$(now_ms)
  vdirsyncer -c "$d/config" sync >>"$d/sync.log" 2>&1 || { echo "error: vdirsyncer against $s failed:" >&2; tail -20 "$d/sync.log" >&2; exit 1; }
  t1=$(now_ms); c1=$(cpu_ticks "$pid")
  echo "$((t1 - t0)) $(((c1 - c0) * 1000 / clk))"
}

# change SERVER ROUND: CHANGES objects changed on the server by PUT
# (half contacts, half events), as another client would.
change() {
  local s=$1 r=$2 i base card cal auth=(-u "$USER_:$PASS") k
  if [ "$s" = box ]; then base=$box_url card=$box_card cal=$box_cal; else base=$rad_url card=$rad_card cal=$rad_cal; fi
  for k in $(seq 1 "$CHANGES"); do
    i=$(( (r * 97 + k * 331) % N ))
    if [ $((k % 2)) = 0 ]; then
      "$PY" -c 'import sys; i, r = int(sys.argv[1]), int(sys.argv[2]); sys.stdout.write("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c-%05d\r\nFN:Person %d v%d\r\nN:%d;Person;;;\r\nEMAIL;TYPE=INTERNET:person%d@example.org\r\nEND:VCARD\r\n" % (i, i, r, i, i))' "$i" "$r" >"$work/obj"
      curl -sfk "${auth[@]}" -o /dev/null -X PUT -H 'Content-Type: text/vcard' --data-binary @"$work/obj" "$base${card}c-$(printf %05d "$i").vcf"
    else
      "$PY" -c 'import sys; i, r = int(sys.argv[1]), int(sys.argv[2]); sys.stdout.write("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\nUID:e-%05d\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\nSUMMARY:Event %d v%d\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % (i, i, r))' "$i" "$r" >"$work/obj"
      curl -sfk "${auth[@]}" -o /dev/null -X PUT -H 'Content-Type: text/calendar' --data-binary @"$work/obj" "$base${cal}e-$(printf %05d "$i").ics"
    fi
  done
}

# check DIR: the local side holds N contacts and N events
check() {
  local c e; c=$(find "$1/contacts" -name '*.vcf' | wc -l); e=$(find "$1/calendar" -name '*.ics' | wc -l)
  [ "$c" = "$N" ] && [ "$e" = "$N" ] || { echo "error: $1 has $c contacts and $e events, not $N" >&2; exit 1; }
}

# replay SERVER: the requests of an initial sync by curl, without
# vdirsyncer: the Depth 1 PROPFIND listing and one multiget of all N
# objects, of both collections; prints "listing_ms multiget_ms" (sums).
replay() {
  local s=$1 base card cal pre coll ext lms=0 mms=0 t
  if [ "$s" = box ]; then base=$box_url card=$box_card cal=$box_cal; else base=$rad_url card=$rad_card cal=$rad_cal; fi
  for pre in c e; do
    if [ $pre = c ]; then coll=$card ext=vcf; else coll=$cal ext=ics; fi
    t=$(curl -sfk --compressed -u "$USER_:$PASS" -o /dev/null -w '%{time_total}' -X PROPFIND -H 'Depth: 1' -H 'Content-Type: application/xml' \
      --data '<propfind xmlns="DAV:"><prop><resourcetype/><getcontenttype/><getetag/></prop></propfind>' "$base$coll")
    lms=$(awk -v a="$lms" -v b="$t" 'BEGIN { printf "%d", a + b * 1000 }')
    t=$(curl -sfk --compressed -u "$USER_:$PASS" -o /dev/null -w '%{time_total}' -X REPORT -H 'Depth: 1' -H 'Content-Type: application/xml' \
      --data-binary @"$work/multiget-$pre-$s.xml" "$base$coll")
    mms=$(awk -v a="$mms" -v b="$t" 'BEGIN { printf "%d", a + b * 1000 }')
  done
  echo "$lms $mms"
}
for s in box rad; do
  for pre in c e; do
    if [ "$s" = box ]; then [ $pre = c ] && coll=$box_card || coll=$box_cal; else [ $pre = c ] && coll=$rad_card || coll=$rad_cal; fi
    ext=vcf; ns='xmlns:X="urn:ietf:params:xml:ns:carddav"' q=addressbook-multiget data=address-data
    [ $pre = e ] && ext=ics ns='xmlns:X="urn:ietf:params:xml:ns:caldav"' q=calendar-multiget data=calendar-data
    { echo "<?xml version=\"1.0\"?><X:$q xmlns=\"DAV:\" $ns><prop><getetag/><X:$data/></prop>"
      seq -f "<href>$coll$pre-%05g.$ext</href>" 0 $((N - 1))
      echo "</X:$q>"; } >"$work/multiget-$pre-$s.xml"
  done
done

log "warming both servers (one untimed sync each)"
for s in box rad; do vconf "$s" "$clientdir/warm-$s"; vsync "$s" "$clientdir/warm-$s" >/dev/null; check "$clientdir/warm-$s"; done

rows=$work/rows
: >"$rows"
for r in $(seq 1 "$ROUNDS"); do
  for s in box rad; do
    d=$clientdir/r$r-$s
    vconf "$s" "$d"
    read -r iw ic < <(vsync "$s" "$d"); check "$d"
    change "$s" "$r"
    read -r cw cc < <(vsync "$s" "$d")
    read -r lw mw < <(replay "$s")
    echo "$s $r $iw $ic $cw $cc $lw $mw" >>"$rows"
    log "round $r $s: initial ${iw} ms (server CPU ${ic} ms), incremental ${cw} ms (server CPU ${cc} ms), listing ${lw} ms, multiget ${mw} ms"
  done
done

# --- one counted incremental sync per server: requests, bytes, objects ---
cat >"$work/proxy.py" <<'PY'
# A TCP proxy on loopback that counts the bytes each way; SIGTERM prints them.
import asyncio, signal, sys
listen, target, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
up = down = 0
async def pipe(r, w, d):
    global up, down
    try:
        while (b := await r.read(65536)):
            if d: up += len(b)
            else: down += len(b)
            w.write(b); await w.drain()
    except (ConnectionError, asyncio.IncompleteReadError): pass
    finally: w.close()
async def conn(r, w):
    tr, tw = await asyncio.open_connection("127.0.0.1", target)
    await asyncio.gather(pipe(r, tw, True), pipe(tr, w, False))
async def main():
    srv = await asyncio.start_server(conn, "127.0.0.1", listen)
    stop = asyncio.Event(); asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    open(out + ".ready", "w").close()
    await stop.wait()
    open(out, "w").write("%d %d\n" % (up, down))
asyncio.run(main())
PY
count() {  # count SERVER: prints "requests bytes_up bytes_down objects_fetched"
  local s=$1 d port target scheme=http
  d=$clientdir/count-$s
  target=$rad_port; [ "$s" = box ] && target=$box_https scheme=https
  pick_port; port=$PORT
  "$PY" "$work/proxy.py" "$port" "$target" "$work/proxy-$s" &
  ppid_=$!
  for _ in $(seq 1 50); do [ -e "$work/proxy-$s.ready" ] && break; sleep 0.1; done
  vconf "$s" "$d" "$scheme://127.0.0.1:$port"
  vdirsyncer -c "$d/config" sync >/dev/null 2>&1 || { echo "error: counted first sync failed" >&2; exit 1; }
  stop_pid "$ppid_"
  "$PY" "$work/proxy.py" "$port" "$target" "$work/proxy2-$s" &
  ppid_=$!
  for _ in $(seq 1 50); do [ -e "$work/proxy2-$s.ready" ] && break; sleep 0.1; done
  change "$s" 99
  vdirsyncer -vdebug -c "$d/config" sync >"$d/debug.log" 2>&1 || { echo "error: counted sync failed" >&2; exit 1; }
  stop_pid "$ppid_"; ppid_=""
  read -r up down <"$work/proxy2-$s"
  echo "$(grep -c 'Sending request' "$d/debug.log") $up $down $(grep -o '<href>' "$d/debug.log" | wc -l)"
}
log "counting one incremental sync per server"
read -r box_req box_up box_down box_obj < <(count box)
read -r rad_req rad_up rad_down rad_obj < <(count rad)

# --- sync-collection after CHANGES changes: the answer's size ---
synccoll() {  # synccoll URL COLL: prints "bytes_of_answer_with_old_token responses"
  local url=$1 coll=$2 body tok
  body='<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>%s</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>'
  # shellcheck disable=SC2059
  tok=$(curl -sfk -u "$USER_:$PASS" -X REPORT -H 'Content-Type: application/xml' --data "$(printf "$body" "")" "$url$coll" | grep -o '<[A-Za-z:]*sync-token>[^<]*' | sed 's/.*>//' | tail -1)
  [ -n "$tok" ] || { echo "error: no sync token from $url$coll" >&2; exit 1; }
  echo "$tok"
}
synccoll_after() {
  local url=$1 coll=$2 tok=$3 body
  body='<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>%s</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>'
  # shellcheck disable=SC2059
  curl -sfk -u "$USER_:$PASS" -X REPORT -H 'Content-Type: application/xml' --data "$(printf "$body" "$tok")" "$url$coll" >"$work/sc"
  echo "$(wc -c <"$work/sc") $(grep -o '<[A-Za-z:]*response>' "$work/sc" | wc -l)"
}
btok_c=$(synccoll "$box_url" "$box_card"); btok_e=$(synccoll "$box_url" "$box_cal")
rtok_c=$(synccoll "$rad_url" "$rad_card"); rtok_e=$(synccoll "$rad_url" "$rad_cal")
change box 98; change rad 98
read -r box_sc_c box_sc_cn < <(synccoll_after "$box_url" "$box_card" "$btok_c")
read -r box_sc_e box_sc_en < <(synccoll_after "$box_url" "$box_cal" "$btok_e")
read -r rad_sc_c rad_sc_cn < <(synccoll_after "$rad_url" "$rad_card" "$rtok_c")
read -r rad_sc_e rad_sc_en < <(synccoll_after "$rad_url" "$rad_cal" "$rtok_e")

# --- the report ---
med() { awk -v s="$1" -v f="$2" '$1 == s { print $f }' "$rows" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.1f", b / a; else print "-" }'; }
biw=$(med box 3) bic=$(med box 4) bcw=$(med box 5) bcc=$(med box 6) blw=$(med box 7) bmw=$(med box 8)
riw=$(med rad 3) ric=$(med rad 4) rcw=$(med rad 5) rcc=$(med rad 6) rlw=$(med rad 7) rmw=$(med rad 8)
mkdir -p "$(dirname "$OUT")"
{
  echo "# DAV sync: boxmail beside Radicale ($(date -u +%F))"
  echo
  echo "bench/dav-sync.sh, N=$N contacts and N events, $CHANGES changes, $ROUNDS rounds alternating (medians)."
  echo "boxmail $box_rev over HTTPS; Radicale $(radicale --version 2>/dev/null) (Debian) over plain HTTP; vdirsyncer $(vdirsyncer --version | awk '{ print $NF }')."
  echo
  echo "| | boxmail | Radicale | Radicale / boxmail |"
  echo "|---|---:|---:|---:|"
  echo "| initial sync, wall ms (vdirsyncer included) | $biw | $riw | $(ratio "$biw" "$riw") |"
  echo "| initial sync, server CPU ms | $bic | $ric | $(ratio "$bic" "$ric") |"
  echo "| incremental sync after $CHANGES changes, wall ms | $bcw | $rcw | $(ratio "$bcw" "$rcw") |"
  echo "| incremental sync, server CPU ms | $bcc | $rcc | $(ratio "$bcc" "$rcc") |"
  echo "| server answer, Depth 1 PROPFIND listing of both collections, ms (curl) | $blw | $rlw | $(ratio "$blw" "$rlw") |"
  echo "| server answer, multiget of all $N of each, ms (curl) | $bmw | $rmw | $(ratio "$bmw" "$rmw") |"
  echo "| incremental sync: requests | $box_req | $rad_req | |"
  echo "| incremental sync: bytes up / down (on the wire) | $box_up / $box_down | $rad_up / $rad_down | |"
  echo "| incremental sync: objects fetched (hrefs in multigets) | $box_obj | $rad_obj | |"
  echo "| sync-collection after $CHANGES changes: bytes (responses), contacts | $box_sc_c ($box_sc_cn) | $rad_sc_c ($rad_sc_cn) | |"
  echo "| sync-collection after $CHANGES changes: bytes (responses), calendar | $box_sc_e ($box_sc_en) | $rad_sc_e ($rad_sc_en) | |"
  echo
  echo "Rows (server round initial_wall_ms initial_cpu_ms incr_wall_ms incr_cpu_ms listing_ms multiget_ms):"
  echo
  echo '```'
  cat "$rows"
  echo '```'
  echo
  echo "Machine: $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r); load average at start $load_start, at end $(cut -d' ' -f1-3 /proc/loadavg)."
} >"$OUT"
log "wrote $OUT"
cat "$OUT"
