#!/usr/bin/python3
"""Verify every DKIM signature of a message with Debian's python3-dkim
(dkimpy), an implementation nobody here wrote, fetching keys from the DNS
server the test started instead of the system's resolver.

usage: dkim_verify.py HOST:PORT < message
Prints one line per signature ("pass d=... s=..." or "fail ...") and exits
0 only when there is at least one signature and all of them verify."""
import sys

import dkim
import dns.message
import dns.query
import dns.rdatatype


def main():
    host, port = sys.argv[1].rsplit(":", 1)

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        q = dns.message.make_query(name, dns.rdatatype.TXT)
        r = dns.query.udp(q, host, port=int(port), timeout=timeout)
        for rrset in r.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                return b"".join(list(rrset)[0].strings)
        return None

    msg = sys.stdin.buffer.read()
    d = dkim.DKIM(msg)
    sigs = [v for (k, v) in d.headers if k.lower() == b"dkim-signature"]
    if not sigs:
        print("no signature")
        return 1
    ok = True
    for i in range(len(sigs)):
        tags = dkim.util.parse_tag_value(sigs[i])
        res = d.verify(idx=i, dnsfunc=dnsfunc)
        print("%s d=%s s=%s a=%s c=%s" % ("pass" if res else "fail", tags[b"d"].decode(), tags[b"s"].decode(),
                                         tags[b"a"].decode(), tags.get(b"c", b"").decode()))
        ok = ok and res
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
