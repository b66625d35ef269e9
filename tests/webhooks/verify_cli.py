"""Runs the tenant's Python snippet (snippets/verify_delivery.py, PyPI standardwebhooks) on one delivery.

stdin: {"body": "<base64 of the raw body>", "headers": {...}, "secrets": ["whsec_..."], "clientSecret": "..."}
stdout: {"standard": {"<secret>": "ok" | "<error>"}, "caf": true|false, "type": "<CloudEvent type>"|null,
         "schema": "ok" | "<why the body does not match the CloudEvent schema of the API reference>"}
"""
import base64
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "snippets"))
from verify_delivery import caf_signature_ok, verify_delivery  # noqa: E402

import jsonschema  # noqa: E402
import standardwebhooks  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(REPO, "crates/server/src/assets/openapi.json"), encoding="utf-8") as f:
    CLOUD_EVENT = dict(json.load(f)["components"]["schemas"]["CloudEvent"])
CLOUD_EVENT["$schema"] = "https://json-schema.org/draft/2020-12/schema"

request = json.load(sys.stdin)
body = base64.b64decode(request["body"])
out = {"standard": {}, "caf": None, "type": None, "library": standardwebhooks.__version__}
for secret in request["secrets"]:
    try:
        event = verify_delivery(body, request["headers"], secret)
        out["standard"][secret] = "ok"
        out["type"] = event.get("type")
    except Exception as e:  # WebhookVerificationError, or a body that is not JSON
        out["standard"][secret] = f"{type(e).__name__}: {e}"
try:
    errors = [e.message for e in jsonschema.Draft202012Validator(CLOUD_EVENT).iter_errors(json.loads(body))]
    out["schema"] = "; ".join(errors) or "ok"
except ValueError as e:
    out["schema"] = f"not JSON: {e}"
if request.get("clientSecret") is not None:
    out["caf"] = caf_signature_ok(body, request["headers"], request["clientSecret"])
json.dump(out, sys.stdout)
