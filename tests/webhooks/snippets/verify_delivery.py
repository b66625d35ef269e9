# Verifying a smartauth webhook delivery in Python (pip install standardwebhooks==1.1.0).
import hashlib
import hmac

from standardwebhooks import Webhook


def verify_delivery(raw_body: bytes, headers, webhook_secret: str) -> dict:
    """The CloudEvent of a genuine delivery; raises WebhookVerificationError (answer 400) otherwise.
    raw_body: the request body exactly as received; headers: the request's headers (any mapping)."""
    return Webhook(webhook_secret).verify(raw_body, dict(headers))


def caf_signature_ok(raw_body: bytes, headers, client_secret: str) -> bool:
    """X-Caf-Signature: hex HMAC-SHA256 of the raw body with the client secret."""
    expected = hmac.new(client_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    given = {k.lower(): v for k, v in dict(headers).items()}.get("x-caf-signature", "")
    return hmac.compare_digest(expected.encode(), given.lower().encode())
