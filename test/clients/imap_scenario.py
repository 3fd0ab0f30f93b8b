#!/usr/bin/env python3
"""IMAP scenario with the standard library's imaplib, run by boxmail's Go
tests against boxmail and, when asked, against a reference Dovecot.

Usage: imap_scenario.py HOST PORT USER PASSWORD EXPECTED_FILE
(or the environment IMAP_HOST, IMAP_PORT, IMAP_USER, IMAP_PASSWORD,
IMAP_EXPECTED). INBOX must hold exactly the message in EXPECTED_FILE.
With IMAP_REFERENCE set (e.g. "dovecot") the boxmail-specific check for
an \Archive special-use mailbox is replaced by creating Archive.

Story: log in, list mailboxes, select INBOX, fetch the delivered message
and compare it byte for byte, search, store flags, move it to Archive,
then IDLE: the script prints "IDLING" on stdout and waits (up to 10 s)
for the driver to deliver a new message, which must arrive as EXISTS.
It prints "OK" and exits 0 on success; on failure it prints the reason
to stderr and exits 1.
"""

import imaplib
import os
import re
import socket
import sys


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(typ, data, what):
    if typ != "OK":
        fail("%s: %s %r" % (what, typ, data))
    return data


def main():
    args = sys.argv[1:]
    host = args[0] if len(args) > 0 else os.environ.get("IMAP_HOST", "127.0.0.1")
    port = int(args[1] if len(args) > 1 else os.environ.get("IMAP_PORT", "143"))
    user = args[2] if len(args) > 2 else os.environ["IMAP_USER"]
    password = args[3] if len(args) > 3 else os.environ["IMAP_PASSWORD"]
    expected_path = args[4] if len(args) > 4 else os.environ["IMAP_EXPECTED"]
    with open(expected_path, "rb") as f:
        expected = f.read()

    m = imaplib.IMAP4(host, port, timeout=15)
    check(*m.login(user, password), what="LOGIN")

    data = check(*m.list(), what="LIST")
    names = [line.decode() for line in data if line]
    if not any(n.endswith(" INBOX") or n.endswith(' "INBOX"') for n in names):
        fail("no INBOX in LIST: %r" % names)
    if os.environ.get("IMAP_REFERENCE"):
        # A stock reference server (Dovecot) has no Archive; make one.
        if not any(re.search(r' "?Archive"?$', n) for n in names):
            check(*m.create("Archive"), what="CREATE Archive")
    elif not any("\\Archive" in n for n in names):
        fail("no \\Archive special-use mailbox in LIST: %r" % names)

    data = check(*m.select("INBOX"), what="SELECT")
    if data[0] != b"1":
        fail("INBOX has %r messages, want 1" % data[0])

    data = check(*m.uid("FETCH", "1:*", "(UID BODY.PEEK[])"), what="FETCH")
    if not isinstance(data[0], tuple):
        fail("FETCH returned no literal: %r" % data)
    if data[0][1] != expected:
        fail("FETCH BODY[] differs:\n got %r\nwant %r" % (data[0][1], expected))
    uid = re.search(rb"UID (\d+)", data[0][0]).group(1).decode()

    subject = re.search(rb"(?im)^Subject: (.*?)\r?$", expected).group(1).decode()
    word = subject.split()[0]
    data = check(*m.uid("SEARCH", None, "SUBJECT", '"%s"' % word), what="SEARCH SUBJECT")
    if data[0].split() != [uid.encode()]:
        fail("SEARCH SUBJECT %s = %r, want %s" % (word, data, uid))
    data = check(*m.search(None, "UNSEEN"), what="SEARCH UNSEEN")
    if data[0].split() != [b"1"]:
        fail("SEARCH UNSEEN = %r, want 1" % data)

    data = check(*m.uid("STORE", uid, "+FLAGS", "(\\Seen \\Flagged)"), what="STORE")
    flags = b" ".join(d for d in data if isinstance(d, bytes))
    if b"\\Seen" not in flags or b"\\Flagged" not in flags:
        fail("STORE answered %r" % data)
    data = check(*m.search(None, "FLAGGED"), what="SEARCH FLAGGED")
    if data[0].split() != [b"1"]:
        fail("SEARCH FLAGGED = %r" % data)

    typ, data = m._simple_command("UID", "MOVE", uid, "Archive")
    check(typ, data, "UID MOVE")
    data = check(*m.select("Archive", readonly=True), what="EXAMINE Archive")
    if data[0] != b"1":
        fail("Archive has %r messages after MOVE, want 1" % data[0])
    data = check(*m.select("INBOX"), what="SELECT INBOX again")
    if data[0] != b"0":
        fail("INBOX has %r messages after MOVE, want 0" % data[0])

    # IDLE by hand (imaplib has no idle() before Python 3.14).
    tag = m._new_tag().decode()
    m.send(("%s IDLE\r\n" % tag).encode())
    line = m.readline()
    if not line.startswith(b"+"):
        fail("IDLE answered %r" % line)
    print("IDLING", flush=True)
    m.sock.settimeout(10)
    try:
        while True:
            line = m.readline()
            if not line:
                fail("connection closed while idling")
            if re.match(rb"\* \d+ EXISTS", line):
                break
    except socket.timeout:
        fail("no EXISTS within 10 s of IDLING")
    m.send(b"DONE\r\n")
    while True:
        line = m.readline()
        if line.startswith(tag.encode()):
            if b" OK" not in line:
                fail("IDLE ended with %r" % line)
            break
    m.sock.settimeout(15)
    m.logout()
    print("OK", flush=True)


if __name__ == "__main__":
    main()
