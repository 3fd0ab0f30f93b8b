#!/usr/bin/env python3
"""Writes raw deflate streams (wbits=-15) the way mbsync does: each chunk
is followed by a zlib flush, Z_PARTIAL_FLUSH unless the case says
otherwise. Prints one JSON object: {"cases": [{"name", "chunks": [{"plain",
"deflate"}] (hex)}]}. Used by inflate's tests at test time."""
import json
import random
import zlib


def commands(n, seed):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        if rnd.random() < 0.2:
            words = " ".join(rnd.choice(["alpha", "beta", "gamma", "INBOX", "Sent", "FLAGS", "\\Seen"])
                             for _ in range(rnd.randint(200, 3000)))
            out.append(("A%04d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(words), words)).encode())
        elif rnd.random() < 0.1:
            out.append(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 5000))))
        else:
            out.append(("A%04d UID FETCH %d:* (FLAGS UID)\r\n" % (i, rnd.randint(1, 99999))).encode())
    return out


def case(name, chunks, level=6, strategy=zlib.Z_DEFAULT_STRATEGY, flushes=None, finish=False):
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)
    res = []
    for i, chunk in enumerate(chunks):
        mode = flushes[i % len(flushes)] if flushes else zlib.Z_PARTIAL_FLUSH
        out = c.compress(chunk) + c.flush(mode)
        res.append({"plain": chunk.hex(), "deflate": out.hex()})
    if finish:
        res.append({"plain": "", "deflate": c.flush(zlib.Z_FINISH).hex()})
    return {"name": name, "chunks": res}


def main():
    small = [b"1 CAPABILITY\r\n", b"2 LOGIN bob secret\r\n", b"3 SELECT INBOX\r\n", b"4 NOOP\r\n", b"x\r\n"]
    cases = [
        case("small-partial", small),
        case("small-partial-finish", small, finish=True),
        case("level1", commands(40, 1), level=1, finish=True),
        case("level9", commands(40, 2), level=9),
        case("level0-stored", commands(20, 3), level=0),
        case("fixed", commands(30, 4), strategy=zlib.Z_FIXED),
        case("huffman-only", commands(30, 5), strategy=zlib.Z_HUFFMAN_ONLY),
        case("rle", commands(30, 6), strategy=zlib.Z_RLE),
        case("mixed-flushes", commands(40, 7),
             flushes=[zlib.Z_PARTIAL_FLUSH, zlib.Z_SYNC_FLUSH, zlib.Z_PARTIAL_FLUSH, zlib.Z_FULL_FLUSH],
             finish=True),
        case("one-byte-chunks", [bytes([b]) for b in b"a1 NOOP\r\nb2 LOGOUT\r\n"]),
    ]
    print(json.dumps({"cases": cases}))


if __name__ == "__main__":
    main()
