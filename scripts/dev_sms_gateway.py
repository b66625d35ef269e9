#!/usr/bin/env python3
"""A development SMS gateway: prints every message smartauth asks it to send.

    python3 scripts/dev_sms_gateway.py [PORT]      # default 9099
    SMARTAUTH_SMS_GATEWAY_URL=http://127.0.0.1:9099/ cargo run --release -- serve

It speaks smartauth's gateway protocol (POST {"to", "message"} as JSON, answer 2xx). Messages are also
appended to dev-sms.log in the data dir, so that scripts can read the latest code: $SMARTAUTH_DATA_DIR
when it is set (as for the server), else the repository's data/, wherever the gateway is started from.
"""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.abspath(os.environ.get("SMARTAUTH_DATA_DIR") or os.path.join(REPOSITORY, "data"))
LOG = os.path.join(DATA_DIR, "dev-sms.log")


class Gateway(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        try:
            sms = json.loads(self.rfile.read(length))
            # One line per message: the WebOTP line (after a blank line) is joined with " / ".
            text = " / ".join(part for part in str(sms["message"]).splitlines() if part.strip())
            line = f"SMS to {sms['to']}: {text}"
        except (ValueError, KeyError, TypeError):
            self.send_response(400)
            self.end_headers()
            return
        print(line, flush=True)
        os.makedirs(DATA_DIR, exist_ok=True)
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(line + "\n")
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9099
    print(f"dev SMS gateway on http://127.0.0.1:{port}/, logging to {LOG}", flush=True)
    HTTPServer(("127.0.0.1", port), Gateway).serve_forever()
