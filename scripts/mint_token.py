#!/usr/bin/env python3
"""Mints a Smart Auth token (HS256 JWT, iss = clientId) with the standard library only.

    python3 scripts/mint_token.py CLIENT_ID CLIENT_SECRET [PERSON_ID] [--ttl SECONDS] [--claim NAME=VALUE ...]

Without PERSON_ID it is a backend token (whole tenant); with it, an SDK token for that person, which
must carry exp no further ahead than the client's sdkTokenMaxLifetimeSeconds (900 unless the operator
changed it). --claim adds a claim with a text value, such as the `policyId` and `transactionHash` an SDK
token for a transfer carries (README "Binding an approval to a transaction, and checking it"). Do this in your backend: the client secret must never reach a browser or an app.
"""
import argparse
import base64
import hashlib
import hmac
import json
import time


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(client_id: str, secret: str, person_id: str | None = None, ttl: int | None = 300,
         extra: dict | None = None) -> str:
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"iss": client_id, **(extra or {})}
    if ttl:
        claims["exp"] = int(time.time()) + ttl
    if person_id:
        claims["personId"] = person_id
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("client_id")
    p.add_argument("client_secret")
    p.add_argument("person_id", nargs="?")
    p.add_argument("--ttl", type=int, default=300, help="seconds until exp; 0 for no exp (backend tokens only)")
    p.add_argument("--claim", action="append", default=[], metavar="NAME=VALUE",
                   help="a claim to add, e.g. policyId=pix-transfer or transactionHash=<hex>; repeat for more")
    a = p.parse_args()
    extra = {}
    for claim in a.claim:
        name, sep, value = claim.partition("=")
        if not sep or not name:
            p.error(f"--claim takes NAME=VALUE, not {claim!r}")
        extra[name] = value
    print(mint(a.client_id, a.client_secret, a.person_id, a.ttl, extra))
