#!/usr/bin/env python3
"""Prepares a running smartauth for the load benchmark and prints what wrk needs, as JSON.

    python3 scripts/bench_setup.py BASE_URL ADMIN_TOKEN SMS_PORT LUA_OUT [PERSONS]

Creates a client, a policy and PERSONS identities (default 200); each approves its device and place through
a real SMS step-up (the codes arrive at a small HTTP gateway this script runs on SMS_PORT). Writes a wrk
script to LUA_OUT that sends passive attempts rotating over the persons, and prints an attempt to read.
"""
import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from mint_token import mint  # noqa: E402

BASE, ADMIN, SMS_PORT, LUA = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
PERSONS = int(sys.argv[5]) if len(sys.argv) > 5 else 200
messages = []


class Gateway(BaseHTTPRequestHandler):
    def do_POST(self):
        messages.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args):
        pass


def call(method, path, token, body=None, forwarded_for=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if forwarded_for:
        # The server trusts loopback as a proxy in the benchmark, so each person has a public
        # address that the IP data sets look up (a Brazilian ISP range, not a listed hosting range).
        req.add_header("X-Forwarded-For", forwarded_for)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as r:
        return json.load(r)


server = HTTPServer(("127.0.0.1", SMS_PORT), Gateway)
threading.Thread(target=server.serve_forever, daemon=True).start()

# The load replays the same SDK tokens for the whole run: a day-long lifetime, the most a client may allow.
client = call("POST", "/admin/clients", ADMIN, {"name": "bench", "sdkTokenMaxLifetimeSeconds": 86400})
cid, secret = client["clientId"], client["clientSecret"]
backend = mint(cid, secret, None, 0)
call("PUT", "/policies/pix", backend, {
    "name": "bench",
    "contexts": {"device_context": {}, "location_context": {}, "network_context": {}},
    # A short window keeps the per-identity count as small as a real policy (10 an hour) would; the load
    # itself is spread over the persons, so no attempt is refused for the limit.
    "maxAttemptsPerIdentity": {"limit": 1000, "windowSeconds": 1},
    "reauthenticationMethods": ["sms_authentication"],
})
body = {"policyId": "pix", "context": {
    "device": {"type": "web", "fingerPrint": "bench-device",
               "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36"},
    "location": {"latitude": -23.5600, "longitude": -46.6376, "accuracy": 12.45}}}

# Each person approves its own device once by SMS; the load then rotates over all of them, as real
# traffic would, so that no single identity's history dominates.
sdk_tokens, aid = [], None
for n in range(PERSONS):
    person = f"bench-{n:05d}"
    phone = f"5521{n:09d}"
    sdk = mint(cid, secret, person, 86400)
    body["context"]["device"]["fingerPrint"] = f"device-{n}"
    call("POST", "/identities", backend, {"personId": person, "name": "Bench Person", "phone": phone})
    ip = f"201.6.{n // 250}.{n % 250 + 1}"
    attempt = call("POST", "/authentications", sdk, body, ip)
    aid = attempt["attemptId"]
    before = len(messages)
    call("POST", f"/authentications/{aid}/methods/sms_authentication/send", sdk, {})
    for _ in range(200):
        if len(messages) > before:
            break
        time.sleep(0.01)
    code = messages[-1]["message"].split("code is ")[1].split(".")[0]
    verified = call("POST", f"/authentications/{aid}/methods/sms_authentication/verify", sdk, {"code": code})
    assert verified["status"] == "approved", verified
    again = call("POST", "/authentications", sdk, body, ip)
    assert again["status"] == "approved", call("GET", f"/authentications/{again['attemptId']}", backend)
    sdk_tokens.append((sdk, json.dumps(body), ip))
server.shutdown()

with open(LUA, "w") as lua:
    lua.write("local requests = {}\n")
    for token, b, ip in sdk_tokens:
        lua.write("requests[#requests + 1] = wrk.format('POST', '/authentications', "
                  f"{{['Content-Type'] = 'application/json', ['Authorization'] = 'Bearer {token}', "
                  f"['X-Forwarded-For'] = '{ip}'}}, [[{b}]])\n")
    lua.write("local i = 0\nrequest = function()\n  i = i % #requests + 1\n  return requests[i]\nend\n")
print(json.dumps({"backend": backend, "attemptId": aid, "clientId": cid}))
