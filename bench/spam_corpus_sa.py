#!/usr/bin/env python3
"""SpamAssassin's side of bench/spam-corpus.sh: scores each test group of
the split (written by spam_corpus.py) with one `spamassassin --mbox`
process per group (local tests only, the Bayes database sa-learn trained)
and prints, per group, how many it marks as spam.

usage: spam_corpus_sa.py SPLIT_DIR SITECONFIG_DIR
"""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

split, conf = sys.argv[1:3]
groups = {}
for cls in ("spam", "ham"):
    d = os.path.join(split, "test-" + cls)
    for f in sorted(os.listdir(d)):
        groups.setdefault(f.split(".", 1)[1], []).append(os.path.join(d, f))

# A header of our own name, so the verdict is not confused with the old
# X-Spam-* fields some corpus messages carry.
with open(os.path.join(conf, "bench.cf"), "w") as fh:
    fh.write("add_header all Bench-Verdict _YESNO_\n")


def run(group):
    mbox = []
    for f in groups[group]:
        body = open(f, "rb").read().replace(b"\r\n", b"\n")
        lines = [b">" + l if l.startswith(b"From ") else l for l in body.split(b"\n")]
        mbox.append(b"From bench@example.invalid Thu Jan  1 00:00:00 2004\n" + b"\n".join(lines).rstrip(b"\n") + b"\n\n")
    r = subprocess.run(["spamassassin", "-L", "--siteconfigpath", conf, "--mbox"], input=b"".join(mbox),
                       capture_output=True, check=True)
    yes = r.stdout.count(b"\nX-Spam-Bench-Verdict: Yes")
    no = r.stdout.count(b"\nX-Spam-Bench-Verdict: No")
    return group, len(groups[group]), yes, no


with ThreadPoolExecutor(2) as ex:
    for group, n, yes, no in ex.map(run, sorted(groups)):
        print("sa %s n=%d junk=%d inbox=%d unscored=%d junk_pct=%.2f" % (group, n, yes, no, n - yes - no, 100.0 * yes / n))
