#!/usr/bin/env bash
# Bodies in the database vs bodies in files: runs BenchmarkDeliverBlob and
# BenchmarkDeliverFile (internal/store/bench_test.go) COUNT times for
# ns/op, then once more each under strace to count every fsync/fdatasync
# system call per delivered message (WAL, checkpoints, files, directories).
#
# usage: bench/store-bodies.sh [N=4000] [COUNT=5]
# fsyncs/op = (syscalls with -benchtime 2N x) - (with N x), divided by N,
# which cancels the setup (store creation, accounts) and the b.N=1 probe run.
set -euo pipefail
N=${1:-4000} COUNT=${2:-5}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/store-bodies.XXXXXX"); trap 'rm -rf "$work"' EXIT
(cd "$repo" && go test -c -o "$work/store.test" ./internal/store/)
cd "$work"
./store.test -test.run '^$' -test.bench 'Deliver(Blob|File)$' -test.benchtime "${N}x" -test.count "$COUNT"
command -v strace >/dev/null || { echo "strace missing: no fsync counts" >&2; exit 0; }
fsyncs() {  # fsyncs BENCH TIMES: fsync+fdatasync syscalls of one run
  strace -f -qq -c -e trace=fsync,fdatasync -o "$work/strace.out" \
    ./store.test -test.run '^$' -test.bench "^$1\$" -test.benchtime "$2x" -test.count 1 >/dev/null
  awk '$NF == "fsync" || $NF == "fdatasync" { s += $4 } END { print s + 0 }' "$work/strace.out"
}
for b in BenchmarkDeliverBlob BenchmarkDeliverFile; do
  one=$(fsyncs "$b" "$N"); two=$(fsyncs "$b" $((2 * N)))
  awk -v b="$b" -v n="$N" -v one="$one" -v two="$two" \
    'BEGIN { printf "%s fsync_syscalls_per_op=%.3f (strace, %d msgs)\n", b, (two - one) / n, n }'
done
