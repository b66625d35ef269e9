#!/usr/bin/env python3
"""Writes crates/server/src/assets/openapi.json, the OpenAPI 3.1 description of the API.

The API contract lives in API.md; this script is its machine-readable twin. Edit here, run it, commit both.
"""
import json
import pathlib

def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}

def body(schema):
    return {"required": True, "content": {"application/json": {"schema": schema}}}

def ok(schema, description="OK"):
    return {"description": description, "content": {"application/json": {"schema": schema}}}

ERRORS = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "404": {"$ref": "#/components/responses/NotFound"},
}

def op(summary, response, *, tags, request=None, params=(), extra=None, security="tenant"):
    o = {"summary": summary, "tags": tags, "responses": {"200": response, **ERRORS, **(extra or {})}}
    if request:
        o["requestBody"] = body(request)
    if params:
        o["parameters"] = list(params)
    o["security"] = [{security: []}] if security else []
    return o

def path_param(name, description):
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}

def query(name, description, schema=None):
    return {"name": name, "in": "query", "required": False, "schema": schema or {"type": "string"}, "description": description}

nullable_str = {"type": ["string", "null"]}
PERSON_ID = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9.@+_-]+$",
             "description": "CPF (stored as its 11 digits) or any id of letters, digits and . - _ @ +"}
NAME = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S",
        "description": "no control or invisible formatting characters (Unicode Cc, Cf, Zl, Zp; the joiners U+200C and U+200D are allowed)"}
SHOWN_ID = "no control or invisible formatting characters (Unicode Cc, Cf, Zl, Zp): people read it"
HALF_EQUATOR_M = 20037508
SDK_LIFETIME = {"type": "integer", "minimum": 60, "maximum": 86400, "default": 900,
                "description": "how far ahead of the server's clock the exp of this client's SDK (personId) tokens may be"}
EMAIL = {"type": "string", "format": "email", "maxLength": 254}
PHONE = {"type": "string", "pattern": "^\\+?[0-9 ().-]{8,24}$", "description": "8 to 15 digits with the country code"}
POLICY_ID = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}
verdict = {"type": "object", "properties": {"status": {"enum": ["approved", "reproved"]}, "reason": {"type": "string"}, "detail": {"type": "string"}}}
method_answer = {
    "type": "object",
    "properties": {
        "requestId": {"type": "string"}, "isAuthorized": {"type": "boolean"}, "attemptsLeft": {"type": "integer"},
        "message": {"type": "string"}, "status": {"enum": ["approved", "pending", "reproved"]},
        "refusalReason": {"type": ["string", "null"], "enum": [None, "invalid_code", "expired_code", "max_attempts_exceeded", "face_mismatch", "person_not_alive", "face_not_found", "multiple_faces", "poor_quality"]},
        "refusalDetail": {"type": ["string", "null"], "enum": [None, "face_too_small", "face_cut_off", "too_dark", "too_bright", "blurred", "head_turned", "eyes_closed", "unmeasurable"], "description": "face only: what to fix when refusalReason is poor_quality"},
        "faceMatch": {"type": "object", "description": "face_authentication only", "properties": {"isMatch": {"type": ["boolean", "null"]}, "similarity": {"type": ["string", "null"]}}},
        "liveness": {"type": "object", "description": "face_authentication only", "properties": {"isAlive": {"type": ["boolean", "null"]}}},
        "attestation": {"type": "string", "description": "JWT, only when the attempt became approved"},
    },
}
schemas = {
    "Error": {"type": "object", "required": ["requestId", "code", "message"], "properties": {
        "requestId": {"type": "string"}, "code": {"enum": ["BAD_REQUEST", "UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND", "METHOD_NOT_ALLOWED", "CONFLICT", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "LOCKED", "TOO_MANY_REQUESTS", "INTERNAL", "BAD_GATEWAY", "UNAVAILABLE"]},
        "message": {"type": "string"}}},
    "NewIdentity": {"type": "object", "additionalProperties": False, "required": ["personId", "name"], "properties": {
        "personId": PERSON_ID,
        "name": NAME, "email": EMAIL, "phone": PHONE,
        "image": {"type": "string", "description": "base64 JPEG or PNG with exactly one usable face"},
        "imageUrl": {"type": "string", "format": "uri", "description": "fetched by the server (http/https, public addresses only unless SMARTAUTH_ALLOW_PRIVATE_TARGETS, 6to4 and Teredo judged by the IPv4 address they carry, 8 MiB, 8 s, 3 redirects); a name that does not resolve gets the same 400 as a private target"}}},
    "Identity": {"type": "object", "properties": {
        "requestId": {"type": "string"}, "id": {"type": "string"}, "personId": {"type": "string"}, "name": {"type": "string"},
        "email": nullable_str, "phone": nullable_str, "hasFace": {"type": "boolean"},
        "createdAt": {"type": "string", "format": "date-time"}, "updatedAt": {"type": "string", "format": "date-time"},
        "lockout": ref("Lockout")}},
    "Lockout": {"type": "object", "description": "failed code and face verifications of the person across attempts (GET /identities/{personId})", "properties": {
        "consecutiveFailures": {"type": "integer", "description": "the larger of codeFailures and faceFailures"},
        "codeFailures": {"type": "integer", "description": "consecutive failed code verifications (SMS or email); a code success resets it"},
        "faceFailures": {"type": "integer", "description": "consecutive failed face verifications; a face success resets it"}, "locked": {"type": "boolean", "description": "code and face methods refused (423) until unlocked"},
        "lockedAt": {**nullable_str, "format": "date-time"}, "nextTryAt": {**nullable_str, "format": "date-time", "description": "while a wait is owed (429 until then)"},
        "lockAfter": {"type": "integer", "description": "SMARTAUTH_LOCKOUT_AFTER"}}},
    "Unlocked": {"type": "object", "properties": {"requestId": {"type": "string"}, "personId": {"type": "string"},
        "unlocked": {"type": "boolean", "description": "the methods were locked and are no longer"}, "cleared": {"oneOf": [ref("Lockout"), {"type": "null"}]}}},
    "Policy": {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
        "policyId": {"type": "string"}, "name": NAME,
        "contexts": {"type": "object", "additionalProperties": False, "properties": {
            "device_context": {"type": "object", "additionalProperties": False, "properties": {
                "enabled": {"type": "boolean", "default": True}, "maxDevicesPerIdentity": {"type": "integer", "default": 3},
                "maxIdentitiesPerDevice": {"type": "integer", "default": 2}, "allowEmulator": {"type": "boolean", "default": False},
                "allowRootOrJailbreak": {"type": "boolean", "default": False}}},
            "location_context": {"type": "object", "additionalProperties": False, "properties": {
                "enabled": {"type": "boolean", "default": True},
                "maxAllowedDistanceInMeters": {"type": "number", "minimum": 1, "maximum": HALF_EQUATOR_M, "default": 50000, "description": "at most half the Equator"},
                "maxTravelSpeedKmh": {"type": "number", "minimum": 1, "maximum": 5000, "default": 900, "description": "at most 5000 (above any aircraft)"},
                "blockedCountries": {"type": "array", "items": {"type": "string"}}}},
            "network_context": {"type": "object", "additionalProperties": False, "properties": {
                "enabled": {"type": "boolean", "default": True}, "allowProxyOrVpn": {"type": "boolean", "default": False},
                "allowTor": {"type": "boolean", "default": False}, "allowHosting": {"type": "boolean", "default": False}}}}},
        "maxAttemptsPerIdentity": {"type": "object", "properties": {"limit": {"type": "integer", "default": 10}, "windowSeconds": {"type": "integer", "default": 3600}}},
        "reauthenticationMethods": {"type": "array", "items": {"enum": ["face_authentication", "sms_authentication", "email_authentication"]}},
        "codes": {"type": "object", "properties": {"length": {"type": "integer", "minimum": 6, "maximum": 10, "default": 6},
            "ttlSeconds": {"type": "integer", "minimum": 30, "maximum": 600, "default": 300}, "maxAttempts": {"type": "integer", "minimum": 1, "maximum": 5, "default": 3},
            "resendAfterSeconds": {"type": "integer", "maximum": 3600, "default": 30}}},
        "face": {"type": "object", "properties": {"minSimilarity": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
            "minLiveness": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5}, "requireLiveness": {"type": "boolean", "default": True},
            "maxAttempts": {"type": "integer", "minimum": 1, "maximum": 5, "default": 3}}}}},
    "AttemptRequest": {"type": "object", "additionalProperties": False, "required": ["policyId"], "description": "personId is required with a backend token and must match an SDK token's person", "properties": {
        "personId": PERSON_ID,
        "policyId": POLICY_ID,
        "context": {"type": "object", "additionalProperties": False, "properties": {
            "device": {"type": "object", "additionalProperties": False, "properties": {
                "type": {"type": "string", "maxLength": 32, "description": SHOWN_ID}, "fingerPrint": {"type": "string", "maxLength": 256, "description": SHOWN_ID},
                "userAgent": {"type": "string", "maxLength": 1024, "description": SHOWN_ID},
                "providedInfo": {"type": "object", "properties": {k: {"type": "string", "maxLength": 128, "description": SHOWN_ID} for k in ("manufacturer", "model", "operatingSystem", "platform")}},
                "flags": {"type": "object", "additionalProperties": False, "properties": {"emulator": {"type": "boolean"}, "rooted": {"type": "boolean"}}}}},
            "location": {"type": "object", "additionalProperties": False, "required": ["latitude", "longitude"], "properties": {
                "latitude": {"type": "number", "minimum": -90, "maximum": 90}, "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                "accuracy": {"type": "number", "minimum": 0, "maximum": HALF_EQUATOR_M, "description": "metres; at most half the Equator"}}}}}}},
    "AttemptAnswer": {"type": "object", "properties": {
        "requestId": {"type": "string"}, "attemptId": {"type": "string"}, "status": {"enum": ["approved", "pending", "reproved"]},
        "isAuthorized": {"type": "boolean"}, "isBlocked": {"type": "boolean"}, "isNewContext": {"type": "boolean"},
        "contextAnalysisResult": {"enum": ["VALID", "INVALID"]}, "neededReauthentications": {"type": "array", "items": {"type": "string"}},
        "attestation": {"type": "string", "description": "HS256 JWT signed with the client secret, 120 s; only when approved"}}},
    "Attempt": {"type": "object", "description": "What a backend token reads: the document of the Smart Auth reference (seed 001), field for field, plus personId, isBlocked, isNewContext, neededReauthentications, decisionSummary and contextEvaluation.*.detail. A refused code's providedCode is masked (********).",
        "properties": {"requestId": {"type": "string"}, "id": {"type": "string"}, "identity": {"type": "object"}, "policy": {"type": "object"},
            "createdAt": {"type": "string"}, "status": {"type": "string"}, "context": ref("AttemptContext"), "contextAnalysisResult": {"type": "string"},
            "authenticationMethods": {"type": "object"}, "sourceIp": {"type": "string"},
            "contextEvaluation": {"type": "object", "properties": {"device_context": verdict, "location_context": verdict, "network_context": verdict}}}},
    "AttemptContext": {"type": "object", "description": "What the client sent and what the server found out, offline, from its data sets. Fields beyond seed 001 are marked.", "properties": {
        "device": {"type": "object", "properties": {
            "info": {"type": "object", "description": "The user agent parsed into ua-parser-js's shape (uap-core regexes + ua-parser-js naming); null leaves when unknown. The User-Agent header is used only for SDK (person) tokens.", "properties": {
                "userAgent": nullable_str,
                "browser": {"type": "object", "properties": {"name": nullable_str, "version": nullable_str, "major": nullable_str}},
                "engine": {"type": "object", "properties": {"name": nullable_str, "version": nullable_str}},
                "os": {"type": "object", "properties": {"name": nullable_str, "version": nullable_str}},
                "device": {"type": "object", "properties": {"vendor": nullable_str, "model": nullable_str, "type": {"type": ["string", "null"], "enum": [None, "mobile", "tablet", "smarttv", "console", "wearable", "embedded"]}}},
                "cpu": {"type": "object", "properties": {"architecture": nullable_str}}}},
            "fingerPrint": nullable_str,
            "deviceKey": {**nullable_str, "description": "beyond the seed: 32 hex characters derived from the fingerprint, stable within the tenant"},
            "providedInfo": {"type": "object"}, "createdAt": {"type": "string"}, "type": nullable_str,
            "emulator": {"type": "boolean"}, "rooted": {"type": "boolean"}}},
        "location": {"type": "object", "properties": {
            "reverseGeolocation": {"type": "object", "description": "city, region, regionCode (ISO 3166-2 without the country) and country from the offline places table; street fields only with SMARTAUTH_GEOCODER_URL", "properties": {
                k: nullable_str for k in ("formattedAddress", "streetName", "streetNumber", "neighborhood", "city", "region", "regionCode", "country", "countryCode", "zipcode")}},
            "location": {"type": ["object", "null"], "properties": {"type": {"const": "Point"}, "coordinates": {"type": "array", "items": {"type": "number"}, "description": "[latitude, longitude]"}, "accuracy": nullable_str}},
            "flags": {"type": "array", "description": "beyond the seed", "items": {"enum": ["NULL_ISLAND", "NO_NEARBY_PLACE", "FAR_FROM_IP_COUNTRY"]}}}},
        "network": {"type": "object", "properties": {
            "ip": {"type": "string"}, "asCode": {"type": ["integer", "null"]}, "asName": nullable_str, "isVpn": {"type": ["boolean", "null"]},
            "location": {"type": "object", "properties": {k: nullable_str for k in ("city", "region", "regionCode", "country", "countryCode")}},
            "isProxy": {"type": ["boolean", "null"], "description": "beyond the seed"}, "isTor": {"type": ["boolean", "null"], "description": "beyond the seed"},
            "isHosting": {"type": ["boolean", "null"], "description": "beyond the seed: hosting, CDN or crawler ranges"},
            "provider": {**nullable_str, "description": "beyond the seed: who runs a listed range, e.g. `Amazon AWS (hosting)`"},
            "addressKind": {"enum": ["public", "private", "loopback", "reserved"], "description": "beyond the seed; only public addresses are looked up"}}}}},
    "Ready": {"type": "object", "properties": {
        "status": {"const": "ready"}, "database": {"type": "string"}, "delivery": {"type": "object"},
        "faceModels": {"type": "boolean"}, "dataSets": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"enum": ["iso3166", "userAgents", "ipCity", "ipAsn", "ipAnonymizers", "places"]}, "loaded": {"type": "boolean"},
            "source": {"type": "string"}, "entries": {"type": "integer"}, "date": {"type": "string", "description": "the data's date, from the fetch script's MANIFEST.json"},
            "loadMs": {"type": "integer"}, "error": {"type": "string"}}}}}},
    "PersonAttempt": {"type": "object", "description": "What an SDK (personId) token reads: the outcome and what to do next, not the evidence (no contextEvaluation, context, decisionSummary, sourceIp or identity), which would tell a hijacked session which signal to fake.",
        "properties": {"requestId": {"type": "string"}, "id": {"type": "string"}, "personId": nullable_str,
            "policy": {"type": "object", "properties": {"policyId": {"type": "string"}, "name": {"type": "string"}}},
            "createdAt": {"type": "string", "format": "date-time"}, "status": {"enum": ["approved", "pending", "reproved"]},
            "contextAnalysisResult": {"enum": ["VALID", "INVALID"]}, "isBlocked": {"type": "boolean"}, "isNewContext": {"type": "boolean"},
            "neededReauthentications": {"type": "array", "items": {"type": "string"}},
            "authenticationMethods": {"type": "object", "description": "face_authentication, email_authentication and sms_authentication, each:",
                "additionalProperties": {"type": "object", "properties": {
                    "status": {"type": ["string", "null"], "description": "null when the attempt did not offer the method"},
                    "attemptsLeft": {"type": ["integer", "null"], "description": "while the method is open"},
                    "attempts": {"type": "array", "items": {"type": "object", "properties": {
                        "refusalReason": nullable_str, "sentTo": {"type": "string", "description": "code methods, masked"},
                        "createdAt": {"type": "string", "format": "date-time"}}}}}}}}},
    "MethodAnswer": method_answer,
    "SendAnswer": {"type": "object", "properties": {"requestId": {"type": "string"}, "method": {"type": "string"}, "sent": {"type": "boolean"},
        "sentTo": {"type": "string", "description": "masked"}, "expiresAt": {"type": "string", "format": "date-time"}}},
    "Client": {"type": "object", "properties": {"clientId": {"type": "string"}, "clientSecret": {"type": "string", "description": "only when created or rotated"},
        "name": {"type": "string"}, "disabled": {"type": "boolean"}, "validateCpf": {"type": "boolean"},
        "sdkTokenMaxLifetimeSeconds": SDK_LIFETIME, "createdAt": {"type": "string"}}},
}
def err_response(description):
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}

attempt_id = path_param("attemptId", "24 hex characters")
method_param = {"name": "method", "in": "path", "required": True, "schema": {"enum": ["email_authentication", "sms_authentication"]}}
verify_method_param = {"name": "method", "in": "path", "required": True, "schema": {"enum": ["email_authentication", "sms_authentication", "face_authentication"]}}
paths = {
    "/health": {"get": op("Liveness", ok({"type": "object"}), tags=["operations"], security=None)},
    "/ready": {"get": op("Readiness: the database answers; which delivery channels and data sets are loaded", ok(ref("Ready")), tags=["operations"], security=None)},
    "/metrics": {"get": {"summary": "Prometheus metrics", "tags": ["operations"], "responses": {"200": {"description": "text/plain exposition format"}}}},
    "/openapi.json": {"get": {"summary": "This document", "tags": ["operations"], "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    "/admin/clients": {
        "post": op("Create a client (tenant); its secret is shown once", ok(ref("Client")), tags=["admin"], security="admin",
                   request={"type": "object", "additionalProperties": False, "required": ["name"], "properties": {"name": NAME, "validateCpf": {"type": "boolean"}, "sdkTokenMaxLifetimeSeconds": SDK_LIFETIME}}),
        "get": op("List clients", ok({"type": "object", "properties": {"items": {"type": "array", "items": ref("Client")}}}), tags=["admin"], security="admin")},
    "/admin/clients/{clientId}": {"patch": op("Change a client's settings", ok(ref("Client")), tags=["admin"], security="admin", params=[path_param("clientId", "")],
        request={"type": "object", "additionalProperties": False, "properties": {"sdkTokenMaxLifetimeSeconds": SDK_LIFETIME}})},
    "/admin/clients/{clientId}/disable": {"post": op("Refuse the client's tokens", ok(ref("Client")), tags=["admin"], security="admin", params=[path_param("clientId", "")])},
    "/admin/clients/{clientId}/enable": {"post": op("Accept the client's tokens again", ok(ref("Client")), tags=["admin"], security="admin", params=[path_param("clientId", "")])},
    "/admin/clients/{clientId}/rotate-secret": {"post": op("Replace the client's secret", ok(ref("Client")), tags=["admin"], security="admin", params=[path_param("clientId", "")])},
    "/identities": {"post": op("Create an identity (backend token)", ok({"type": "object", "properties": {"requestId": {"type": "string"}, "id": {"type": "string"}, "personId": {"type": "string"}, "createdAt": {"type": "string"}}}),
                               tags=["identities"], request=ref("NewIdentity"), extra={"409": err_response("the personId exists"), "413": err_response("body too large")})},
    "/identities/{personId}": {
        "get": op("Read an identity", ok(ref("Identity")), tags=["identities"], params=[path_param("personId", "")]),
        "patch": op("Change name, email, phone or face (null clears)", ok(ref("Identity")), tags=["identities"], params=[path_param("personId", "")],
                    request={"type": "object", "additionalProperties": False, "properties": {"name": NAME, "email": {**EMAIL, "type": ["string", "null"]},
                             "phone": {**PHONE, "type": ["string", "null"]}, "image": {**nullable_str, "description": "base64; null removes the face"},
                             "imageUrl": {"type": "string", "format": "uri"}}}),
        "delete": op("Erase the identity (LGPD): face, contacts and known contexts; attempts are kept anonymized", ok({"type": "object"}), tags=["identities"], params=[path_param("personId", "")])},
    "/identities/{personId}/unlock": {"post": op("Clear the person's failed verifications and lock (backend token; logged)", ok(ref("Unlocked")), tags=["identities"], params=[path_param("personId", "")])},
    "/admin/clients/{clientId}/identities/{personId}/unlock": {"post": op("The operator clears a person's failed verifications and lock (logged)", ok(ref("Unlocked")), tags=["admin"], security="admin",
        params=[path_param("clientId", ""), path_param("personId", "")])},
    "/policies": {"get": op("List policies", ok({"type": "object", "properties": {"items": {"type": "array", "items": ref("Policy")}}}), tags=["policies"])},
    "/policies/{policyId}": {
        "put": op("Create or replace a policy; unknown fields are refused", ok(ref("Policy")), tags=["policies"], params=[path_param("policyId", "")], request=ref("Policy")),
        "get": op("Read a policy", ok(ref("Policy")), tags=["policies"], params=[path_param("policyId", "")]),
        "delete": op("Delete a policy", ok({"type": "object"}), tags=["policies"], params=[path_param("policyId", "")])},
    "/authentications": {
        "post": op("Start an attempt (verifyPolicy): the context is judged against the policy", ok(ref("AttemptAnswer")), tags=["authentications"], request=ref("AttemptRequest")),
        "get": op("List attempts, newest first (backend token)", ok({"type": "object", "properties": {"items": {"type": "array"}, "nextCursor": nullable_str}}), tags=["authentications"],
                  params=[query("personId", ""), query("status", "approved, pending or reproved"), query("policyId", ""), query("from", "RFC 3339, inclusive"),
                          query("to", "RFC 3339, exclusive"), query("limit", "1-200, default 50", {"type": "integer"}), query("cursor", "nextCursor of the previous page")])},
    "/authentications/{attemptId}": {"get": op("Read an attempt: the Smart Auth document for a backend token, the outcome and next steps for an SDK token", ok({"oneOf": [ref("Attempt"), ref("PersonAttempt")]}), tags=["authentications"], params=[attempt_id])},
    "/authentications/{attemptId}/methods/{method}/send": {"post": op("Send a one-time code", ok(ref("SendAnswer")), tags=["step-up"], params=[attempt_id, method_param],
        extra={"409": err_response("the attempt is not pending or the method is not offered"), "423": err_response("the person's code and face methods are locked (POST /identities/{personId}/unlock)"),
               "429": err_response("resend too soon, or the codes sent to this person or destination reached SMARTAUTH_CODE_SENDS_PER_HOUR/PER_DAY (Retry-After)"),
               "502": err_response("the code could not be delivered (it still counts against the resend delay and the caps)")})},
    "/authentications/{attemptId}/methods/{method}/verify": {"post": op("Verify a one-time code, or a selfie for face_authentication", ok(ref("MethodAnswer")), tags=["step-up"], params=[attempt_id, verify_method_param],
        request={"type": "object", "additionalProperties": False, "description": "code for the code methods; image or imageUrl for face_authentication",
                 "properties": {"code": {"type": "string", "pattern": "^[0-9]{6,10}$", "description": "exactly the policy's code length"},
                                "image": {"type": "string", "description": "base64 JPEG or PNG selfie"}, "imageUrl": {"type": "string", "format": "uri"}}},
        extra={"409": err_response("no code sent, or the attempt is not pending"), "413": err_response("image too large"),
               "423": err_response("the person's code and face methods are locked after SMARTAUTH_LOCKOUT_AFTER consecutive failures across attempts"),
               "429": err_response("a wait is owed after repeated failures across attempts, or too many face verifications for this person (10 per 10 minutes) (Retry-After)"), "503": err_response("face models not loaded, or every face worker busy")})},
    "/media/{clientId}/{attemptId}/{name}": {"get": {"summary": "An attempt's image (a signedUrl from the attempt document): signed, expiring after 15 minutes, gone once the person is erased",
        "tags": ["step-up"], "security": [], "parameters": [path_param("clientId", ""), path_param("attemptId", ""), path_param("name", ""),
            query("expires", "Unix seconds", {"type": "integer"}), query("signature", "HMAC")],
        "responses": {"200": {"description": "image/jpeg or image/png"}, "403": err_response("invalid or expired link"), "404": err_response("no such image")}}},
}
doc = {
    "openapi": "3.1.0",
    "info": {"title": "smartauth", "version": "0.1.0", "description": "Risk-based step-up authentication, compatible with the CAF Smart Auth API. Tenant calls carry `Authorization: Bearer <HS256 JWT>` with `iss` = clientId, signed with the client secret; `personId` in the token limits it to one person. Every response carries `requestId` (and the `x-request-id` header); errors are `{requestId, code, message}`."},
    "servers": [{"url": "/"}],
    "paths": paths,
    "components": {
        "schemas": schemas,
        "securitySchemes": {
            "tenant": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "HS256, iss = clientId, optional personId. exp: whole seconds since the epoch; optional for backend tokens, required for SDK (personId) tokens and at most the client's sdkTokenMaxLifetimeSeconds (900 by default) ahead. A header with crit is refused."},
            "admin": {"type": "http", "scheme": "bearer", "description": "the operator's admin token"}},
        "responses": {"BadRequest": err_response("malformed request; nothing changed"), "Unauthorized": err_response("missing or invalid token"),
                      "NotFound": err_response("no such resource for this tenant or person")}},
}
out = pathlib.Path(__file__).resolve().parent.parent / "crates/server/src/assets/openapi.json"
out.write_text(json.dumps(doc, indent=1) + "\n")
print(f"wrote {out}")
