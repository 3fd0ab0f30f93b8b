#!/usr/bin/python3
"""A shared family calendar seen by Debian's python3-caldav, as its owner
and as the accounts it is shared with.

Usage: dav_share.py URL USER PASSWORD MODE
MODE is one of:
  owner   put an event in the owner's calendar ending /family
  reader  the shared calendar is in USER's calendar list, its event is
          read, and saving an event there is refused (403)
  writer  as reader, but saving an event there works
  gone    no shared calendar is in USER's calendar list
Prints one line per step; exits non-zero at the first surprise.
"""

import sys

import caldav

EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//boxmail test//share//EN
BEGIN:VEVENT
UID:%s
DTSTAMP:20260101T000000Z
DTSTART:20260505T150000Z
DTEND:20260505T160000Z
SUMMARY:%s
END:VEVENT
END:VCALENDAR
"""


def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)


def shared(principal):
    return [c for c in principal.calendars() if "/shared~" in str(c.url)]


def main():
    url, user, password, mode = sys.argv[1:5]
    client = caldav.DAVClient(url=url, username=user, password=password, ssl_verify_cert=False)
    principal = client.principal()
    if mode == "owner":
        fam = [c for c in principal.calendars() if str(c.url).rstrip("/").endswith("/family")]
        if not fam:
            fail("no family calendar")
        fam[0].save_event(EVENT % ("picnic@family", "Family picnic"))
        print("owner saved")
        return
    cals = shared(principal)
    if mode == "gone":
        if cals:
            fail("still listed: " + " ".join(str(c.url) for c in cals))
        print("gone")
        return
    if len(cals) != 1:
        fail("shared calendars: %d" % len(cals))
    cal = cals[0]
    print("listed " + str(cal.url))
    if cal.get_display_name() != "Family":
        fail("display name %r" % cal.get_display_name())
    events = cal.events()
    if len(events) < 1 or not any("Family picnic" in e.data for e in events):
        fail("the owner's event is not there")
    print("read %d" % len(events))
    try:
        cal.save_event(EVENT % ("%s@family" % mode, "From " + user))
    except Exception as e:  # caldav raises its own error types by version
        if mode == "reader" and ("403" in str(e) or "Forbidden" in str(e)):
            print("refused")
            return
        fail("save: %s" % e)
    if mode == "reader":
        fail("a read-only account saved an event")
    print("saved")


if __name__ == "__main__":
    main()
