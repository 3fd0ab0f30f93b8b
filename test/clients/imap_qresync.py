#!/usr/bin/env python3
"""A phone resyncing a big mailbox with imaplib (RFC 7162 QRESYNC): it
selects MAILBOX and records UIDVALIDITY and HIGHESTMODSEQ; a second
connection then flags 10 messages; the phone reconnects and selects with
(QRESYNC (uidvalidity modseq)), counting every line of that response.
A server without QRESYNC gets what such a client does instead: CHANGEDSINCE
with CONDSTORE, else a full UID FETCH 1:* (FLAGS).

Prints "KEY value" lines: CAPS, UIDVALIDITY, HIGHESTMODSEQ, CHANGED (the
flagged UIDs), MODE (qresync, condstore or full), LINES (lines of the
resync response, tagged line included), SEEN (changed UIDs the resync
reported as \\Flagged). Exits non-zero on a protocol failure.

usage: imap_qresync.py HOST PORT TLS(0|1) CERTFILE USER PASSWORD MAILBOX
"""
import imaplib
import re
import ssl
import sys

host, port, use_tls, certfile, user, password, mailbox = sys.argv[1:8]


def connect():
    if use_tls == "1":
        # Trust exactly the box's self-signed certificate; it names
        # mail.example.test while we dial an address.
        ctx = ssl.create_default_context(cafile=certfile)
        ctx.check_hostname = False
        m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=20)
    else:
        m = imaplib.IMAP4(host, int(port), timeout=20)
    m.login(user, password)
    return m


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def raw(m, command):
    """Sends command and returns every response line up to the tagged
    one (literals joined into their line)."""
    tag = m._new_tag().decode()
    m.send(("%s %s\r\n" % (tag, command)).encode())
    lines = []
    for _ in range(200000):
        line = m.readline()
        if not line:
            fail("connection closed during %s" % command)
        lit = re.search(rb"\{(\d+)\}\r\n$", line)
        if lit:
            line += m.read(int(lit.group(1))) + m.readline()
        lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
        if line.startswith(tag.encode() + b" "):
            if not line.startswith(tag.encode() + b" OK"):
                fail("%s: %s" % (command, lines[-1]))
            return lines
    fail("%s: no end" % command)


phone = connect()
typ, data = phone.capability()  # after LOGIN: servers add extensions
caps = data[0].decode().upper().split()
print("CAPS " + " ".join(caps))
mode = "qresync" if "QRESYNC" in caps else ("condstore" if "CONDSTORE" in caps else "full")
if mode == "qresync":
    raw(phone, "ENABLE QRESYNC")
elif mode == "condstore":
    raw(phone, "ENABLE CONDSTORE")
first = "\n".join(raw(phone, 'SELECT "%s"' % mailbox))
uv = re.search(r"\[UIDVALIDITY (\d+)\]", first)
hm = re.search(r"\[HIGHESTMODSEQ (\d+)\]", first)
if not uv:
    fail("SELECT gave no UIDVALIDITY")
uidvalidity = uv.group(1)
modseq = hm.group(1) if hm else ""
print("UIDVALIDITY " + uidvalidity)
print("HIGHESTMODSEQ " + modseq)
phone.logout()

other = connect()
other.select('"%s"' % mailbox)
typ, data = other.uid("SEARCH", "ALL")
uids = data[0].split()
if len(uids) < 10:
    fail("only %d messages" % len(uids))
changed = [uids[i * len(uids) // 10].decode() for i in range(10)]
for u in changed:
    typ, _ = other.uid("STORE", u, "+FLAGS.SILENT", "(\\Flagged)")
    if typ != "OK":
        fail("STORE %s" % u)
other.logout()
print("CHANGED " + " ".join(changed))

phone = connect()
if mode == "qresync":
    raw(phone, "ENABLE QRESYNC")
    lines = raw(phone, 'SELECT "%s" (QRESYNC (%s %s))' % (mailbox, uidvalidity, modseq))
elif mode == "condstore" and modseq:
    raw(phone, "ENABLE CONDSTORE")
    raw(phone, 'SELECT "%s"' % mailbox)
    lines = raw(phone, "UID FETCH 1:* (FLAGS) (CHANGEDSINCE %s)" % modseq)
else:
    mode = "full"
    raw(phone, 'SELECT "%s"' % mailbox)
    lines = raw(phone, "UID FETCH 1:* (FLAGS)")
phone.logout()
print("MODE " + mode)
print("LINES %d" % len(lines))
seen = []
for line in lines:
    f = re.match(r"\* \d+ FETCH \((.*)\)$", line)
    u = f and re.search(r"UID (\d+)", f.group(1))
    if u and u.group(1) in changed and "\\Flagged" in f.group(1):
        seen.append(u.group(1))
print("SEEN " + " ".join(sorted(set(seen), key=int)))
