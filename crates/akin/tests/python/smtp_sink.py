"""A real SMTP server on loopback for akin's tests (aiosmtpd).

Usage: smtp_sink.py DIR PORT

Listens on 127.0.0.1:PORT, prints "ready" once it accepts connections, and writes every
message it accepts to DIR as NNNNN.json ({"mail_from", "rcpt_tos", "data"}), written whole
(a temporary name, then renamed). Runs until its standard input closes.
"""

import json
import os
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = len([n for n in os.listdir(directory) if n.endswith(".json")])

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.directory, f"{self.count:05d}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as out:
            json.dump(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "data": envelope.content.decode("utf-8", "replace"),
                },
                out,
            )
        os.rename(path + ".tmp", path)
        return "250 2.0.0 Ok: queued as akin-test-%d" % self.count


def main():
    directory, port = sys.argv[1], int(sys.argv[2])
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
