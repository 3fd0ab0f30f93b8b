#!/usr/bin/env python3
"""Send one UTF-8 message through submission with STARTTLS and AUTH, the
way a mail client does, using only Python's standard smtplib.

usage: smtp_send.py HOST PORT USER PASSWORD TO
"""
import ssl
import smtplib
import sys
from email.message import EmailMessage

host, port, user, password, to = sys.argv[1:6]
msg = EmailMessage()
msg["From"] = user
msg["To"] = to
msg["Subject"] = "sent by smtplib"
msg.set_content("Viele Grüße aus der Box\n", charset="utf-8", cte="8bit")

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # the box's certificate is self-signed
with smtplib.SMTP(host, int(port), timeout=20) as s:
    s.ehlo("client.example")
    if not s.has_extn("starttls"):
        sys.exit("server does not offer STARTTLS")
    if s.has_extn("auth"):
        sys.exit("server offers AUTH before TLS")
    s.starttls(context=ctx)
    s.ehlo("client.example")
    for ext in ("auth", "8bitmime", "pipelining", "enhancedstatuscodes", "smtputf8", "size", "chunking"):
        if not s.has_extn(ext):
            sys.exit("missing extension after STARTTLS: " + ext)
    s.login(user, password)
    refused = s.send_message(msg)
    if refused:
        sys.exit("refused: %r" % refused)
print("sent")
