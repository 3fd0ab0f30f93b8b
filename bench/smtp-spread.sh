#!/usr/bin/env bash
# smtp-source for several nodes of one box (bench/smtp-ingest.sh, NODES>1):
# called with smtp-source's arguments, it sends to the node that the
# recipient (-t userN@...) picks, user N to node (N-1) mod the number of
# ports in SPREAD_PORTS, on the host of the last argument (HOST:PORT).
set -euo pipefail
args=("$@") rcpt="" prev=""
for a in "$@"; do [ "$prev" = -t ] && rcpt=$a; prev=$a; done
read -r -a ports <<<"${SPREAD_PORTS:?}"
n=$(echo "$rcpt" | sed -E 's/^[^0-9]*([0-9]+)@.*/\1/'); [[ "$n" =~ ^[0-9]+$ ]] || n=1
host=${args[-1]%:*}
args[-1]=$host:${ports[$(( (n - 1) % ${#ports[@]} ))]}
exec /usr/sbin/smtp-source "${args[@]}"
