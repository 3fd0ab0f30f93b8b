#!/usr/bin/env python3
"""The spam corpus benchmark's driver (bench/spam-corpus.sh runs it): trains
boxmail through its real paths only and counts where the test mail lands.

Protocol (issue 17): every training message (easy-ham-1, spam-1, the first
half of hard-ham-1) is delivered over SMTP; then, over IMAP as a mail app
would, ham the filter left in INBOX is read (\\Seen), spam it left in INBOX
is moved to Junk, ham it put in Junk is moved to INBOX (spam already in Junk
is left alone). Once the box has trained, every test message (easy-ham-2,
spam-2, the other half of hard-ham-1) is delivered over SMTP and counted
in INBOX or Junk. Each message carries an X-Bench-Id field (a number; the
filter does not read unknown fields) so the driver knows which is which.

usage: spam_corpus.py DATA_DIR HOST SMTP_PORT IMAPS_PORT USER PASSWORD BOXMAIL DIR OUT_DIR
Prints key=value lines; writes OUT_DIR/{train,test}-{spam,ham}/ (the same
split, for SpamAssassin).
"""
import imaplib
import os
import re
import smtplib
import ssl
import subprocess
import sys
import time

data, host, smtp_port, imaps_port, user, password, boxmail, boxdir, out = sys.argv[1:10]


def files(group):
    d = os.path.join(data, group)
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".txt"))


hard = files("hard-ham-1")
half = len(hard) // 2
train = [(f, "spam", "spam-1") for f in files("spam-1")] + [(f, "ham", "easy-ham-1") for f in files("easy-ham-1")] + \
    [(f, "ham", "hard-ham-1") for f in hard[:half]]
test = [(f, "spam", "spam-2") for f in files("spam-2")] + [(f, "ham", "easy-ham-2") for f in files("easy-ham-2")] + \
    [(f, "ham", "hard-ham-1") for f in hard[half:]]

def load(f):
    """A corpus message without the mbox "From " line some start with (an
    envelope line, not part of the message), with LF line ends."""
    raw = open(f, "rb").read().replace(b"\r\n", b"\n")
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1]
    return raw


# The same split for the SpamAssassin run.
for name, msgs in (("train", train), ("test", test)):
    for cls in ("spam", "ham"):
        os.makedirs(os.path.join(out, name + "-" + cls), exist_ok=True)
    for i, (f, cls, group) in enumerate(msgs):
        with open(os.path.join(out, name + "-" + cls, "%05d.%s" % (i, group)), "wb") as fh:
            fh.write(load(f))


def send(msgs, base):
    """Delivers msgs over SMTP; ids are base+index. Returns the count refused."""
    refused = 0
    s = smtplib.SMTP(host, int(smtp_port), timeout=60)
    for i, (f, cls, group) in enumerate(msgs):
        raw = b"X-Bench-Id: %d\n" % (base + i) + load(f)
        try:
            s.sendmail("bench@sender.example", [user], raw)
        except (smtplib.SMTPException, OSError) as e:
            refused += 1
            print("refused %s: %s" % (f, e), file=sys.stderr)
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                pass
            s = smtplib.SMTP(host, int(smtp_port), timeout=60)
            continue
        if i % 200 == 199:
            s.quit()
            s = smtplib.SMTP(host, int(smtp_port), timeout=60)
    s.quit()
    return refused


def imap():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the bench box's self-signed certificate
    m = imaplib.IMAP4_SSL(host, int(imaps_port), ssl_context=ctx)
    m.login(user, password)
    return m


def ids(m, mailbox):
    """{bench id: uid} of a mailbox."""
    typ, _ = m.select(mailbox)
    assert typ == "OK", typ
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (X-BENCH-ID)])")
    out = {}
    if typ != "OK":
        return out
    # Each message is a tuple (prefix, literal) followed by the rest of
    # its response line; UID may be in either part.
    for k, item in enumerate(data):
        if not isinstance(item, tuple):
            continue
        rest = data[k + 1] if k + 1 < len(data) and isinstance(data[k + 1], bytes) else b""
        u = re.search(rb"UID (\d+)", item[0]) or re.search(rb"UID (\d+)", rest)
        b = re.search(rb"X-Bench-Id: (\d+)", item[1], re.I)
        if u and b:
            out[int(b.group(1))] = u.group(1).decode()
    return out


def chunked(m, cmd, uids, *args, size=200):
    for i in range(0, len(uids), size):
        typ, resp = m.uid(cmd, ",".join(uids[i:i + size]), *args)
        assert typ == "OK", (cmd, resp)


def queued():
    r = subprocess.run([boxmail, "spam", "stats", "--dir", boxdir], capture_output=True, text=True, check=True)
    return int(re.search(r"queued for training: (\d+)", r.stdout).group(1))


t0 = time.time()
refused = send(train, 0)
t1 = time.time()
m = imap()
inbox = ids(m, "INBOX")
m.select("INBOX")
# Read as a person reads: a few messages per command. The store trains
# no ham from one STORE that marks more than 50 read ("mark all as read"
# is not reading; store.seenTrainMax), so 200 at a time trained none.
chunked(m, "STORE", [u for i, u in inbox.items() if train[i][1] == "ham"], "+FLAGS", "(\\Seen)", size=25)
chunked(m, "MOVE", [u for i, u in inbox.items() if train[i][1] == "spam"], "Junk")
junk = ids(m, "Junk")
m.select("Junk")
chunked(m, "MOVE", [u for i, u in junk.items() if train[i][1] == "ham"], "INBOX")
m.logout()
t2 = time.time()
while queued() > 0:
    time.sleep(0.5)
t3 = time.time()
print("train_msgs=%d train_refused=%d train_smtp_s=%.1f train_imap_s=%.1f train_drain_s=%.1f" % (
    len(train), refused, t1 - t0, t2 - t1, t3 - t2))

refused = send(test, 100000)
t4 = time.time()
time.sleep(1)
m = imap()
inbox, junk = ids(m, "INBOX"), ids(m, "Junk")
m.logout()
count = {}
for i, (f, cls, group) in enumerate(test):
    bid = 100000 + i
    where = "junk" if bid in junk else "inbox" if bid in inbox else "missing"
    count[(group, where)] = count.get((group, where), 0) + 1
print("test_msgs=%d test_refused=%d test_smtp_s=%.1f" % (len(test), refused, t4 - t3))
for g in ("spam-2", "easy-ham-2", "hard-ham-1"):
    n = sum(v for (gg, _), v in count.items() if gg == g)
    print("boxmail %s n=%d junk=%d inbox=%d missing=%d junk_pct=%.2f" % (
        g, n, count.get((g, "junk"), 0), count.get((g, "inbox"), 0), count.get((g, "missing"), 0),
        100.0 * count.get((g, "junk"), 0) / max(n, 1)))
