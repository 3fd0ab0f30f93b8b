#!/usr/bin/env python3
"""POP3 scenario with the standard library's poplib, run by boxmail's Go
tests against boxmail and, when asked, against a reference Dovecot.

Usage: pop3_scenario.py HOST PORT USER PASSWORD EXPECTED_FILE...
The maildrop must hold exactly the messages in the EXPECTED_FILEs, in
order. With POP3_STLS=1 the script starts TLS (STLS) before logging in;
with POP3_SSL=1 it connects with implicit TLS. With POP3_REFERENCE set
(e.g. "dovecot") the boxmail-specific check that a second concurrent
session is refused with [IN-USE] is skipped (Dovecot allows it by
default).

Story: a wrong password fails with [AUTH]; log in, CAPA lists UIDL and
TOP, STAT/LIST/UIDL agree with the expected messages, RETR returns each
byte for byte, TOP 1 0 is the header, DELE + RSET keeps everything, DELE
then QUIT removes message 1, and a new session sees the rest under the
same UIDLs. Prints "OK" and exits 0 on success; on failure prints the
reason to stderr and exits 1.
"""

import os
import poplib
import ssl
import sys


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def connect(host, port):
    if os.environ.get("POP3_SSL") == "1":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return poplib.POP3_SSL(host, port, context=ctx, timeout=15)
    p = poplib.POP3(host, port, timeout=15)
    if os.environ.get("POP3_STLS") == "1":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        p.stls(context=ctx)
    return p


def login(host, port, user, password):
    p = connect(host, port)
    p.user(user)
    p.pass_(password)
    return p


def joined(lines):
    """RETR's lines (dot-unstuffed by poplib) as the message's bytes."""
    return b"".join(l + b"\r\n" for l in lines)


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    expected = []
    for path in sys.argv[5:]:
        with open(path, "rb") as f:
            expected.append(f.read())
    reference = os.environ.get("POP3_REFERENCE")

    p = connect(host, port)
    p.user(user)
    try:
        p.pass_(password + "-wrong")
        fail("a wrong password was accepted")
    except poplib.error_proto as e:
        if b"[AUTH]" not in e.args[0]:
            fail("wrong password answered %r, want -ERR [AUTH]" % e.args[0])
    p.quit()

    p = login(host, port, user, password)
    caps = p.capa()
    for c in ("UIDL", "TOP"):
        if c not in caps:
            fail("CAPA lacks %s: %r" % (c, caps))

    if not reference:
        q = connect(host, port)
        q.user(user)
        try:
            q.pass_(password)
            fail("a second concurrent session was let in")
        except poplib.error_proto as e:
            if b"[IN-USE]" not in e.args[0]:
                fail("second session answered %r, want -ERR [IN-USE]" % e.args[0])
        q.quit()

    count, size = p.stat()
    if count != len(expected):
        fail("STAT says %d messages, want %d" % (count, len(expected)))
    resp, listing, _ = p.list()
    sizes = [int(l.split()[1]) for l in listing]
    if len(sizes) != len(expected) or sum(sizes) != size:
        fail("LIST %r does not match STAT %d %d" % (listing, count, size))
    resp, uidls, _ = p.uidl()
    uids = [l.split()[1] for l in uidls]
    if len(set(uids)) != len(expected):
        fail("UIDL not unique: %r" % uidls)
    for i, want in enumerate(expected, 1):
        resp, lines, octets = p.retr(i)
        got = joined(lines)
        if got != want:
            fail("RETR %d differs:\n got %r\nwant %r" % (i, got, want))
        if sizes[i - 1] != len(want):
            fail("LIST size of %d is %d, the message has %d octets" % (i, sizes[i - 1], len(want)))
    resp, lines, _ = p.top(1, 0)
    header = expected[0].split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    if joined(lines) != header:
        fail("TOP 1 0 = %r, want %r" % (joined(lines), header))

    p.dele(1)
    p.rset()
    p.dele(1)
    p.quit()

    p = login(host, port, user, password)
    count, _ = p.stat()
    if count != len(expected) - 1:
        fail("after DELE 1 and QUIT: %d messages, want %d" % (count, len(expected) - 1))
    resp, uidls, _ = p.uidl()
    if [l.split()[1] for l in uidls] != uids[1:]:
        fail("UIDLs changed between sessions: %r, then %r" % (uids, uidls))
    if count:
        resp, lines, _ = p.retr(1)
        if joined(lines) != expected[1]:
            fail("message 2 changed after message 1 was deleted")
    p.quit()
    print("OK")


if __name__ == "__main__":
    main()
