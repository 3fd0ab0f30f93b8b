#!/usr/bin/env python3
"""Open a boxmail export with Python's mailbox module (a reader nobody
here wrote) and print what it sees as JSON: one object per message with
its folder (Maildir: the folder name Python lists, "" for INBOX; mbox:
the file's path), its flags as Python reads them, and the SHA-256 of
the bytes Python returns for it.

usage: export_check.py maildir|mbox DIR
"""
import hashlib
import json
import mailbox
import os
import sys


def maildir(root):
    out = []
    md = mailbox.Maildir(root, factory=None, create=False)
    boxes = [("", md)] + [(n, md.get_folder(n)) for n in sorted(md.list_folders())]
    for name, box in boxes:
        for key in box.keys():
            msg = box.get_message(key)
            out.append({"folder": name, "flags": msg.get_flags(),
                        "sha": hashlib.sha256(box.get_bytes(key)).hexdigest(),
                        "date": int(msg.get_date())})
    return out


def mbox(root):
    out = []
    for d, _, files in os.walk(root):
        for f in sorted(files):
            p = os.path.join(d, f)
            box = mailbox.mbox(p, create=False)
            for key in box.keys():
                msg = box.get_message(key)
                out.append({"folder": os.path.relpath(p, root), "flags": msg.get_flags(),
                            "sha": hashlib.sha256(box.get_bytes(key)).hexdigest(),
                            "from": msg.get_from()})
            box.close()
    return out


if __name__ == "__main__":
    kind, root = sys.argv[1], sys.argv[2]
    json.dump(maildir(root) if kind == "maildir" else mbox(root), sys.stdout)
