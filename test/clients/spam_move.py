#!/usr/bin/env python3
"""Move the messages whose Subject contains WORD from one mailbox to
another the way mail clients do, with Python's standard imaplib only:
"move" uses UID MOVE (RFC 6851), "copy" COPY + STORE \\Deleted + EXPUNGE;
"junk-keyword" only sets $Junk (TO is ignored).

usage: spam_move.py HOST IMAPS_PORT USER PASSWORD FROM TO WORD move|copy|junk-keyword
Prints "moved N".
"""
import imaplib
import ssl
import sys

host, port, user, password, src, dst, word, how = sys.argv[1:9]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # the test box's self-signed certificate
m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
m.login(user, password)
typ, _ = m.select(src)
assert typ == "OK", typ
typ, data = m.uid("SEARCH", "SUBJECT", word)
assert typ == "OK", typ
uids = data[0].split()
for uid in uids:
    if how == "move":
        typ, resp = m.uid("MOVE", uid, dst)
        assert typ == "OK", resp
    elif how == "junk-keyword":  # what Thunderbird does to mark junk in place
        typ, resp = m.uid("STORE", uid, "+FLAGS", "($Junk)")
        assert typ == "OK", resp
    else:
        typ, resp = m.uid("COPY", uid, dst)
        assert typ == "OK", resp
        typ, resp = m.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
        assert typ == "OK", resp
if how == "copy" and uids:
    typ, resp = m.expunge()
    assert typ == "OK", resp
m.logout()
print("moved", len(uids))
