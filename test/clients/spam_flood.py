#!/usr/bin/env python3
"""A user moves every message of INBOX to Junk at once (one UID MOVE, or
COPY + STORE \\Deleted + EXPUNGE when the server has no MOVE) while a
second connection, as another mail app would, sends NOOP and SELECT and
times each answer: during the move, then for AFTER seconds more (the
box trains on the moved messages meanwhile). Standard imaplib only.

usage: spam_flood.py HOST IMAPS_PORT USER PASSWORD AFTER_SECONDS
Prints "moved N in S s" and, per phase (move, after), one line
"PHASE n=N median_ms=M p99_ms=P max_ms=X".
"""
import imaplib
import ssl
import sys
import threading
import time

host, port, user, password, after = sys.argv[1:6]


def connect():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the test box's self-signed certificate
    m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
    m.login(user, password)
    return m


mover, prober = connect(), connect()
typ, data = mover.select("INBOX")
assert typ == "OK", data
n = int(data[0])
phase = ["before"]
times = {"move": [], "after": []}
stop = threading.Event()


def probe():
    k = 0
    while not stop.is_set():
        cmd = ("NOOP",) if k % 2 == 0 else ("SELECT", "Junk")
        t0 = time.monotonic()
        typ, resp = prober.noop() if cmd[0] == "NOOP" else prober.select("Junk")
        dt = time.monotonic() - t0
        assert typ == "OK", (cmd, resp)
        if phase[0] in times:
            times[phase[0]].append(dt)
        k += 1
        time.sleep(0.02)


th = threading.Thread(target=probe)
th.start()
time.sleep(0.3)
phase[0] = "move"
t0 = time.monotonic()
typ, caps = mover.capability()
if b"MOVE" in caps[0].upper().split():
    typ, resp = mover.uid("MOVE", "1:*", "Junk")
    assert typ == "OK", resp
else:
    typ, resp = mover.uid("COPY", "1:*", "Junk")
    assert typ == "OK", resp
    typ, resp = mover.uid("STORE", "1:*", "+FLAGS.SILENT", "(\\Deleted)")
    assert typ == "OK", resp
    typ, resp = mover.expunge()
    assert typ == "OK", resp
moved = time.monotonic() - t0
phase[0] = "after"
time.sleep(float(after))
stop.set()
th.join()
mover.logout()
prober.logout()
print("moved %d in %.2f s" % (n, moved))
for p in ("move", "after"):
    l = sorted(times[p]) or [0.0]
    print("%s n=%d median_ms=%.1f p99_ms=%.1f max_ms=%.1f" % (
        p, len(times[p]), 1000 * l[len(l) // 2], 1000 * l[min(len(l) - 1, int(len(l) * 0.99))], 1000 * l[-1]))
