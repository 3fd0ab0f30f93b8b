#!/usr/bin/env bash
# The end-to-end suite (the package ./test) run as one process per test,
# E2E_JOBS at a time (default 3). Its tests spend most of their time
# waiting on real clients and servers (Postfix, Dovecot, Chromium, swaks,
# timeouts), so a few at once on 2 cores finish in a fraction of the time
# of one `go test ./test/` process, which runs them one after another.
# A queue rather than fixed shards: the slow tests start first (slow.txt,
# names only; a stale or missing name is harmless), the rest in the
# package's order, and each free slot takes the next test.
#
# Prints one line per test (ok/skip/FAIL and its seconds), the log of each
# failed test at the end, and the slowest tests. Exits 1 if any test failed.
# Usage: test/e2e.sh [go test -run regexp]
set -uo pipefail
cd "$(dirname "$0")"
jobs=${E2E_JOBS:-3}
filter=${1:-.}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/logs"
export CGO_ENABLED=${CGO_ENABLED:-0}
go build -o "$work/boxmail" ../cmd/boxmail || exit 1
go test -c -o "$work/e2e.test" . || exit 1
"$work/e2e.test" -test.list "$filter" | grep -E '^(Test|Example|Fuzz)' > "$work/all" || true
if [ ! -s "$work/all" ]; then
  echo "e2e: no test matches $filter" >&2; exit 1
fi
{ grep -Fxf "$work/all" slow.txt 2>/dev/null; grep -Fxvf slow.txt "$work/all" 2>/dev/null || cat "$work/all"; } | awk '!seen[$0]++' > "$work/queue"

export BOXMAIL_E2E_BINARY="$work/boxmail" E2E_WORK="$work"
run_one() {
  local name=$1 log="$E2E_WORK/logs/$1.log" start end secs verdict=ok
  start=$(date +%s.%N)
  if "$E2E_WORK/e2e.test" -test.run "^${name}\$" -test.count=1 -test.timeout 30m -test.v >"$log" 2>&1; then
    grep -q -- "^--- SKIP: $name " "$log" && verdict=skip
  else
    verdict=FAIL
    echo "$name" >>"$E2E_WORK/failed"
  fi
  end=$(date +%s.%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}')
  printf '%s\t%s\n' "$secs" "$name" >>"$E2E_WORK/times"
  printf '%-4s %s (%ss)\n' "$verdict" "$name" "$secs"
}
export -f run_one

begin=$(date +%s)
xargs -P "$jobs" -I{} bash -c 'run_one "$1"' _ {} <"$work/queue"
echo "e2e: $(wc -l <"$work/queue") tests, $jobs at a time, $(( $(date +%s) - begin )) s"
echo "e2e: the slowest:"
sort -rn "$work/times" | head -15 | sed 's/^/  /'
if [ -s "$work/failed" ]; then
  while read -r name; do
    echo "=== log of $name"
    cat "$work/logs/$name.log"
  done <"$work/failed"
  echo "e2e: FAILED: $(tr '\n' ' ' <"$work/failed")"
  exit 1
fi
echo "e2e: ok"
