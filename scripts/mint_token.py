#!/usr/bin/env python3
"""Mints a Smart Auth token (HS256 JWT, iss = clientId) with the standard library only.

    python3 scripts/mint_token.py CLIENT_ID CLIENT_SECRET [PERSON_ID] [--ttl SECONDS]

Without PERSON_ID it is a backend token (whole tenant); with it, an SDK token for that person, which
must carry exp no further ahead than the client's sdkTokenMaxLifetimeSeconds (900 unless the operator
changed it). Do this in your backend: the client secret must never reach a browser or an app.
"""
import argparse
import base64
import hashlib
import hmac
import json
import time


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(client_id: str, secret: str, person_id: str | None = None, ttl: int | None = 300) -> str:
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"iss": client_id}
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
    a = p.parse_args()
    print(mint(a.client_id, a.client_secret, a.person_id, a.ttl))
