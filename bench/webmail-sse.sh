#!/bin/sh
# The webmail's SSE push latency and memory per open session (issue 19):
# N sessions log in to a box started by the e2e harness, each holds an
# open /mail/events stream; the box's RSS and live heap are read before
# and after, then mail is delivered over SMTP and the time from each 250
# to the state event on the recipient's streams is taken.
#
#   bench/webmail-sse.sh [sessions] [accounts] [messages]
#
# BOXMAIL_WEBMAIL_BENCH_PROFILE=DIR also keeps the heap and goroutine
# profiles taken with every stream open.
set -eu
cd "$(dirname "$0")/.."
export BOXMAIL_WEBMAIL_BENCH=1
export BOXMAIL_WEBMAIL_BENCH_SESSIONS="${1:-500}"
export BOXMAIL_WEBMAIL_BENCH_ACCOUNTS="${2:-10}"
export BOXMAIL_WEBMAIL_BENCH_MESSAGES="${3:-50}"
uptime
go test ./test/ -run '^TestWebmailSSEBench$' -count=1 -v -timeout 30m 2>&1 | grep -E 'webmail_bench_test|^(---|ok|FAIL|PASS)'
