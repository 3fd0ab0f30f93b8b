#!/usr/bin/env python3
"""Fetch every message of INBOX over IMAPS with imaplib and print, one
line a message sorted by its X-Seq header, the X-Seq, the SHA-256 of
the bytes BODY.PEEK[] returns and the flags (sorted, \\Recent left out).

usage: imap_dump.py HOST PORT USER PASSWORD
"""
import hashlib
import imaplib
import re
import ssl
import sys

host, port, user, password = sys.argv[1:5]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
M = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
M.login(user, password)
typ, data = M.select("INBOX", readonly=True)
lines = []
if int(data[0]) > 0:
    flags = {}
    typ, data = M.fetch("1:*", "(UID FLAGS)")
    for item in data:
        uid = re.search(rb"UID (\d+)", item).group(1)
        fl = re.search(rb"FLAGS \(([^)]*)\)", item).group(1).decode().split()
        flags[uid] = " ".join(sorted(f for f in fl if f != "\\Recent"))
    typ, data = M.fetch("1:*", "(UID BODY.PEEK[])")
    for item in data:
        if not isinstance(item, tuple):
            continue
        uid = re.search(rb"UID (\d+)", item[0]).group(1)
        raw = item[1]
        m = re.search(rb"^X-Seq: (\d+)\r?$", raw, re.M)
        lines.append((int(m.group(1)) if m else -1, hashlib.sha256(raw).hexdigest(), flags[uid]))
for seq, sha, fl in sorted(lines):
    print(seq, sha, fl)
M.logout()
