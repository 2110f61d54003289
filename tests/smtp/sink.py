#!/usr/bin/python3
"""A local SMTP server for the email tests (Debian's python3-aiosmtpd): accepts every
message and writes it, as received, to DIR/<n>.eml. Prints "listening PORT" once it accepts.

usage: sink.py DIR [PORT]   (PORT 0 or absent: a free one)
"""
import os
import socket
import sys
import time

from aiosmtpd.controller import Controller


class Save:
    def __init__(self, out):
        self.out = out
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        tmp = os.path.join(self.out, "%d.tmp" % self.n)
        with open(tmp, "wb") as f:
            f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.out, "%d.eml" % self.n))
        return "250 OK"


def main():
    out = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if port == 0:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
    os.makedirs(out, exist_ok=True)
    c = Controller(Save(out), hostname="127.0.0.1", port=port)
    c.start()
    print("listening %d" % port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        c.stop()


if __name__ == "__main__":
    main()
