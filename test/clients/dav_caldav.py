#!/usr/bin/python3
"""A CalDAV round trip with Debian's python3-caldav, a client nobody here
wrote, against boxmail's /dav/.

Usage: dav_caldav.py URL USER PASSWORD
Finds the principal and its calendars from URL (the bare server, so
discovery goes through current-user-principal and calendar-home-set),
creates an event in the default calendar, finds it by a time range (and
not by another), updates it, makes a second calendar, deletes the event.
Prints one line per step; exits non-zero at the first surprise.
"""

import datetime
import sys

import caldav

EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//boxmail test//caldav//EN
BEGIN:VEVENT
UID:py-caldav-1@example.test
DTSTAMP:20260101T000000Z
DTSTART:20260310T090000Z
DTEND:20260310T100000Z
SUMMARY:%s
END:VEVENT
END:VCALENDAR
"""


def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)


def main():
    url, user, password = sys.argv[1:4]
    client = caldav.DAVClient(url=url, username=user, password=password, ssl_verify_cert=False)
    principal = client.principal()
    print("principal " + str(principal.url))
    cals = principal.calendars()
    names = [str(c.url) for c in cals]
    print("calendars " + " ".join(names))
    default = [c for c in cals if str(c.url).rstrip("/").endswith("/default")]
    if not default:
        fail("no default calendar")
    cal = default[0]

    cal.save_event(EVENT % "Piano lesson")
    print("created")
    found = cal.date_search(start=datetime.datetime(2026, 3, 10, 0, 0, tzinfo=datetime.timezone.utc),
                            end=datetime.datetime(2026, 3, 11, 0, 0, tzinfo=datetime.timezone.utc), expand=False)
    if len(found) != 1 or "Piano lesson" not in found[0].data:
        fail("time range around the event found %d" % len(found))
    print("found in range")
    none = cal.date_search(start=datetime.datetime(2026, 4, 1, tzinfo=datetime.timezone.utc),
                           end=datetime.datetime(2026, 4, 2, tzinfo=datetime.timezone.utc), expand=False)
    if len(none) != 0:
        fail("time range away from the event found %d" % len(none))
    print("not found out of range")

    ev = cal.event_by_uid("py-caldav-1@example.test")
    ev.data = (EVENT % "Piano lesson (moved)")
    ev.save()
    again = cal.event_by_uid("py-caldav-1@example.test")
    if "moved" not in again.data:
        fail("update lost")
    print("updated")

    principal.make_calendar(name="Family", cal_id="family")
    if not any(str(c.url).rstrip("/").endswith("/family") for c in principal.calendars()):
        fail("made calendar not listed")
    print("made calendar")

    again.delete()
    if cal.events():
        fail("event still there after delete")
    print("deleted")


if __name__ == "__main__":
    main()
