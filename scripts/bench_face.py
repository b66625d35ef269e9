"""Face verifications as load, beside wrk on GET /authentications/{id}: does the rest of the API keep
its latency while selfies are being verified? Used by scripts/bench-face.sh.

Usage: bench_face.py BASE_URL ADMIN_TOKEN setup OUT.json
       bench_face.py BASE_URL ADMIN_TOKEN load SETUP.json SECONDS CONCURRENCY
"""
import base64
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from mint_token import mint  # noqa: E402

BASE, ADMIN, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
FACES = os.path.join(os.path.dirname(__file__), "..", "data", "test-fixtures", "faces")


def call(method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def image(name):
    with open(os.path.join(FACES, name), "rb") as f:
        return base64.b64encode(f.read()).decode()


if MODE == "setup":
    out = sys.argv[4]
    status, client = call("POST", "/admin/clients", ADMIN, {"name": "face-bench"})
    cid, secret = client["clientId"], client["clientSecret"]
    backend = mint(cid, secret, None, 0)
    # Every attempt of the load comes without a device: a step-up by face each time.
    status, body = call("PUT", "/policies/pix", backend, {
        "name": "face", "reauthenticationMethods": ["face_authentication"],
        "contexts": {"device_context": {}, "location_context": {}, "network_context": {}},
        "maxAttemptsPerIdentity": {"limit": 1000, "windowSeconds": 60}})
    assert status == 200, body
    enrolled = image("fr_obama.jpg")
    persons = []
    # The server allows 10 face verifications per person per 10 minutes: spread the load.
    for n in range(100):
        person = f"face-{n:03d}"
        status, body = call("POST", "/identities", backend, {"personId": person, "name": "Bench", "image": enrolled})
        assert status == 200, body
        persons.append(person)
    status, attempt = call("POST", "/authentications", mint(cid, secret, persons[0]), {"policyId": "pix"})
    json.dump({"clientId": cid, "secret": secret, "persons": persons, "backend": backend,
               "attemptId": attempt["attemptId"]}, open(out, "w"))
    print(json.dumps({"backend": backend, "attemptId": attempt["attemptId"]}))
    sys.exit(0)

setup = json.load(open(sys.argv[4]))
seconds, concurrency = float(sys.argv[5]), int(sys.argv[6])
selfie = image("fr_obama2.jpg")
latencies, outcomes, lock = [], {}, threading.Lock()
deadline = time.time() + seconds


def worker(k):
    i = k
    while time.time() < deadline:
        person = setup["persons"][i % len(setup["persons"])]
        i += concurrency
        sdk = mint(setup["clientId"], setup["secret"], person)
        _, attempt = call("POST", "/authentications", sdk, {"policyId": "pix"})
        if attempt.get("status") != "pending":
            with lock:
                outcomes["attempt not pending"] = outcomes.get("attempt not pending", 0) + 1
            continue
        t = time.time()
        status, answer = call("POST", f"/authentications/{attempt['attemptId']}/methods/face_authentication/verify",
                              sdk, {"image": selfie})
        with lock:
            latencies.append(time.time() - t)
            key = answer.get("status") if status == 200 else f"HTTP {status}"
            outcomes[key] = outcomes.get(key, 0) + 1


threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
for t in threads:
    t.start()
for t in threads:
    t.join()
latencies.sort()
pick = lambda q: latencies[int((len(latencies) - 1) * q)] * 1000 if latencies else 0
print(f"face verifications: {len(latencies)} in {seconds:.0f} s = {len(latencies) / seconds:.1f}/s at {concurrency} "
      f"concurrent clients; latency p50 {pick(0.5):.0f} ms, p99 {pick(0.99):.0f} ms; outcomes {outcomes}")
