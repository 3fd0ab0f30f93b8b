#!/usr/bin/env python3
"""Login attempts with the standard library's imaplib or poplib, from a
chosen loopback source address, for boxmail's brute-force tests.

Usage: login_attempts.py imap|pop3 SOURCE HOST PORT USER PASSWORD WRONG
Connects from SOURCE (e.g. 127.0.0.2) to the STARTTLS port (IMAP STARTTLS,
POP3 STLS), tries WRONG different wrong passwords, each on its own
connection, then the right one. Prints one line per attempt, "ok" or
"failed: REPLY", and exits 0 when the last attempt (the right password)
logged in, 1 when it was refused.
"""

import imaplib
import poplib
import socket
import ssl
import sys


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def from_source(cls, source):
    class Sourced(cls):
        def _create_socket(self, timeout):
            return socket.create_connection((self.host, self.port), timeout, source_address=(source, 0))
    return Sourced


def attempt(proto, source, host, port, user, password):
    if proto == "imap":
        m = from_source(imaplib.IMAP4, source)(host, port, timeout=15)
        m.starttls(ssl_context=tls_context())
        try:
            m.login(user, password)
        except imaplib.IMAP4.error as e:
            return "failed: %s" % e
        finally:
            try:
                m.logout()
            except Exception:
                pass
        return "ok"
    p = from_source(poplib.POP3, source)(host, port, timeout=15)
    p.stls(context=tls_context())
    try:
        p.user(user)
        p.pass_(password)
    except poplib.error_proto as e:
        return "failed: %s" % e.args[0].decode(errors="replace")
    finally:
        try:
            p.quit()
        except Exception:
            pass
    return "ok"


def main():
    proto, source, host, port, user, password, wrong = sys.argv[1:8]
    for i in range(int(wrong)):
        print("wrong %d: %s" % (i + 1, attempt(proto, source, host, int(port), user, "wrong-%d-%s" % (i, password))), flush=True)
    last = attempt(proto, source, host, int(port), user, password)
    print("right: " + last, flush=True)
    sys.exit(0 if last == "ok" else 1)


if __name__ == "__main__":
    main()
