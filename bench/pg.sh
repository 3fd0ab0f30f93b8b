#!/usr/bin/env bash
# A private PostgreSQL for the cluster benchmarks (bench/cluster.sh, and
# STORE_URL of bench/smtp-ingest.sh / bench/imap-mixed.sh), on loopback.
#
# usage: bench/pg.sh start DIR   initdb in DIR, start on a free port, create
#                                the database; prints STORE_URL=... and PG_PID=...
#        bench/pg.sh db DIR NAME a fresh database NAME (dropped first if there);
#                                prints STORE_URL=...
#        bench/pg.sh stop DIR    stop it (the files stay in DIR)
#        bench/pg.sh stats-reset DIR      forget the statement counts (PG_STATS)
#        bench/pg.sh stats DIR NAME [N]   the statements database NAME ran since
#                                the last reset: "total=CALLS" then the N most
#                                called (default 30) as "CALLS<tab>EXEC_US<tab>
#                                PLAN_US<tab>PLANS<tab>QUERY" (mean execution and
#                                planning time per call in microseconds, plans made)
# env:   PG_STATS=1 (start): load pg_stat_statements, which counts every
#        statement the clients send (utility ones too: BEGIN, SAVEPOINT,
#        COMMIT; not those run by triggers and functions: track=top), by
#        database: the round trips. It costs CPU of its own, so the CPU
#        figures are taken without it.
# Unlike the tests' cluster (internal/testutil/pgtest) it keeps PostgreSQL's
# durable defaults (fsync, synchronous_commit, full_page_writes on), so that
# it compares fairly with SQLite's synchronous=FULL. As root it runs as the
# postgres user. initdb and pg_ctl come from PATH.
set -euo pipefail
cmd=${1:-} dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case $cmd in
start)
  mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  as initdb -D "$dir/data" -U boxmail -A trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  stats=""
  [ "${PG_STATS:-0}" = 1 ] && stats="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top -c pg_stat_statements.track_planning=on -c pg_stat_statements.max=2000"
  as pg_ctl -D "$dir/data" -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 $stats" -l "$dir/log" -w -t 60 start >/dev/null
  echo "$port" >"$dir/port"
  if [ -n "$stats" ]; then
    as psql -h 127.0.0.1 -p "$port" -U boxmail -d postgres -qc "CREATE EXTENSION pg_stat_statements" >/dev/null
  fi
  "$0" db "$dir" bench
  echo "PG_PID=$(head -1 "$dir/data/postmaster.pid")"
  ;;
db)
  port=$(cat "$dir/port") name=${3:?database name}
  as psql -h 127.0.0.1 -p "$port" -U boxmail -d postgres -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
  echo "STORE_URL=postgres://boxmail@127.0.0.1:$port/$name?sslmode=disable"
  ;;
stats-reset)
  port=$(cat "$dir/port")
  as psql -h 127.0.0.1 -p "$port" -U boxmail -d postgres -qAtc "SELECT pg_stat_statements_reset()" >/dev/null
  ;;
stats)
  port=$(cat "$dir/port") name=${3:?database name} n=${4:-30}
  # Utility statements are counted per text; the store's are constants.
  s="WITH s AS (SELECT calls, total_exec_time * 1000 / calls AS exec_us, total_plan_time * 1000 / calls AS plan_us, plans,
       regexp_replace(query, '\s+', ' ', 'g') AS query FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$name'))"
  as psql -h 127.0.0.1 -p "$port" -U boxmail -d postgres -qAt -F $'\t' \
    -c "$s SELECT 'total=' || coalesce(sum(calls), 0) FROM s" \
    -c "$s SELECT calls, round(exec_us::numeric, 1), round(plan_us::numeric, 1), plans, left(query, 140) FROM s ORDER BY calls DESC LIMIT $n"
  ;;
stop) as pg_ctl -D "$dir/data" -m fast -w stop >/dev/null ;;
*) echo "usage: $0 start|db|stats|stats-reset|stop DIR" >&2; exit 2 ;;
esac
