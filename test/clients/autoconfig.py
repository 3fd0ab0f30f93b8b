#!/usr/bin/env python3
"""Mail-client autoconfiguration as Thunderbird and Outlook do it, with
the standard library only: fetch http://autoconfig.DOMAIN/mail/config-v1.1.xml
(plain HTTP, as Thunderbird tries first) and POST an Outlook POX
autodiscover request over HTTPS; parse both and print one line per
server: "SOURCE TYPE HOST PORT SOCKET USERNAME".

usage: autoconfig.py HTTP_PORT HTTPS_PORT EMAIL
"""
import http.client
import ssl
import sys
import xml.etree.ElementTree as ET

http_port, https_port, email = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
domain = email.split("@", 1)[1]

c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
c.request("GET", "/mail/config-v1.1.xml?emailaddress=" + email, headers={"Host": "autoconfig." + domain})
r = c.getresponse()
assert r.status == 200, ("autoconfig", r.status)
root = ET.fromstring(r.read())
assert root.tag == "clientConfig" and root.get("version") == "1.1", root.tag
prov = root.find("emailProvider")
assert domain in [d.text for d in prov.findall("domain")], "domain not listed"
for kind in ("incomingServer", "outgoingServer"):
    for s in prov.findall(kind):
        user = s.findtext("username").replace("%EMAILADDRESS%", email)
        print("autoconfig", s.get("type"), s.findtext("hostname"), s.findtext("port"), s.findtext("socketType"), user)

req = ('<?xml version="1.0" encoding="utf-8"?>'
       '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">'
       '<Request><EMailAddress>%s</EMailAddress>'
       '<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>'
       '</Request></Autodiscover>' % email)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # self-signed
c = http.client.HTTPSConnection("127.0.0.1", https_port, timeout=10, context=ctx)
c.request("POST", "/Autodiscover/Autodiscover.xml", body=req, headers={"Host": "autodiscover." + domain, "Content-Type": "text/xml"})
r = c.getresponse()
assert r.status == 200, ("autodiscover", r.status)
ns = {"a": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
root = ET.fromstring(r.read())
for p in root.iterfind(".//a:Protocol", ns):
    enc = p.findtext("a:Encryption", namespaces=ns)
    sock = {"SSL": "SSL", "TLS": "STARTTLS"}.get(enc, enc)
    print("autodiscover", p.findtext("a:Type", namespaces=ns).lower(), p.findtext("a:Server", namespaces=ns),
          p.findtext("a:Port", namespaces=ns), sock, p.findtext("a:LoginName", namespaces=ns))
