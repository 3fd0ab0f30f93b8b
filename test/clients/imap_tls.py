#!/usr/bin/env python3
"""The real binary as a phone's mail app sees it, with imaplib: plaintext
LOGIN refused before STARTTLS, then STARTTLS + LOGIN on the IMAP port and
LOGIN on IMAPS; the message delivered over SMTP is fetched byte for byte;
IDLE sees the next delivery (the script prints IDLING and the Go test
delivers). Prints OK on success.

usage: imap_tls.py HOST IMAP_PORT IMAPS_PORT USER PASSWORD EXPECTED_FILE
"""
import imaplib
import ssl
import sys

host, port, sport, user, password, expected_path = sys.argv[1:7]
expected = open(expected_path, "rb").read()
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # self-signed


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


m = imaplib.IMAP4(host, int(port), timeout=15)
if "LOGINDISABLED" not in m.capabilities:
    fail("LOGIN not disabled before TLS: %r" % (m.capabilities,))
try:
    m.login(user, password)
    fail("plaintext LOGIN accepted before STARTTLS")
except imaplib.IMAP4.error:
    pass
m.starttls(ssl_context=ctx)
typ, _ = m.login(user, password)
if typ != "OK":
    fail("LOGIN after STARTTLS")
typ, data = m.select("INBOX")
if typ != "OK" or int(data[0]) != 1:
    fail("SELECT INBOX: %r %r" % (typ, data))
typ, data = m.uid("FETCH", "1", "(BODY.PEEK[] RFC822.SIZE)")
if typ != "OK" or data[0][1] != expected:
    fail("FETCH BODY[] differs from what was delivered:\n%r\n%r" % (data[0][1] if data and data[0] else data, expected))
m.logout()

s = imaplib.IMAP4_SSL(host, int(sport), ssl_context=ctx, timeout=15)
s.login(user, password)
s.select("INBOX")
tag = s._new_tag().decode()
s.send(("%s IDLE\r\n" % tag).encode())
if not s.readline().startswith(b"+"):
    fail("IDLE not accepted")
print("IDLING", flush=True)
s.sock.settimeout(3)  # push, not polling: generous bound on "within a second"
line = s.readline()
if not line.startswith(b"* 2 EXISTS"):
    fail("IDLE saw %r instead of * 2 EXISTS" % line)
s.send(b"DONE\r\n")
s.readline()
s.logout()
print("OK")
