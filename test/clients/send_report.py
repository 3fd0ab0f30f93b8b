"""Sends an aggregate report to the box as the big providers do: a short
text and the report as an attachment (gzip or zip), over SMTP with
Python's smtplib.

usage: send_report.py HOST PORT KIND DOMAIN REPORT_ID PACKING [TO]
  KIND: dmarc | tls    PACKING: gzip | zip | plain
  TO: the recipient (default postmaster@DOMAIN)
"""
import gzip
import io
import json
import smtplib
import sys
import zipfile
from email.message import EmailMessage

host, port, kind, domain, report_id, packing = sys.argv[1:7]
to = sys.argv[7] if len(sys.argv) > 7 else "postmaster@" + domain

if kind == "dmarc":
    doc = f"""<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata><org_name>google.com</org_name><email>noreply-dmarc-support@google.com</email>
    <report_id>{report_id}</report_id><date_range><begin>1764892800</begin><end>1764979199</end></date_range></report_metadata>
  <policy_published><domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf><p>quarantine</p></policy_published>
  <record><row><source_ip>198.51.100.7</source_ip><count>410</count>
    <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
    <identifiers><header_from>{domain}</header_from></identifiers></record>
  <record><row><source_ip>203.0.113.9</source_ip><count>2</count>
    <policy_evaluated><disposition>quarantine</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
    <identifiers><header_from>{domain}</header_from></identifiers></record>
</feedback>""".encode()
    name = f"google.com!{domain}!1764892800!1764979199"
    ext, sub = ".xml", "xml"
else:
    doc = json.dumps({
        "organization-name": "Mail Corp", "report-id": report_id, "contact-info": "tlsrpt@mail.example",
        "date-range": {"start-datetime": "2026-12-05T00:00:00Z", "end-datetime": "2026-12-05T23:59:59Z"},
        "policies": [{"policy": {"policy-type": "sts", "policy-domain": domain, "mx-host": ["mail." + domain]},
                      "summary": {"total-successful-session-count": 97, "total-failure-session-count": 3},
                      "failure-details": [{"result-type": "certificate-host-mismatch", "sending-mta-ip": "192.0.2.1",
                                           "receiving-mx-hostname": "mail." + domain, "failed-session-count": 3}]}],
    }).encode()
    name = f"mail.example!{domain}!20261205"
    ext, sub = ".json", "tlsrpt+json"

msg = EmailMessage()
msg["From"] = "noreply@reporter.example"
msg["To"] = to
msg["Subject"] = f"Report Domain: {domain} Submitter: reporter.example Report-ID: <{report_id}>"
if kind == "tls":
    msg["TLS-Report-Domain"] = domain
    msg["TLS-Report-Submitter"] = "mail.example"
msg.set_content("This is an aggregate report from reporter.example.")
if packing == "gzip":
    data = gzip.compress(doc)
    msg.add_attachment(data, maintype="application", subtype="gzip" if kind == "dmarc" else "tlsrpt+gzip", filename=name + ext + ".gz")
elif packing == "zip":
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name + ext, doc)
    msg.add_attachment(buf.getvalue(), maintype="application", subtype="zip", filename=name + ".zip")
else:
    msg.add_attachment(doc, maintype="application" if kind == "tls" else "text", subtype=sub, filename=name + ext)

with smtplib.SMTP(host, int(port), timeout=30) as s:
    s.send_message(msg, from_addr="bounces@reporter.example", to_addrs=[to])
print("sent")
