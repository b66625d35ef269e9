//! Device binding (sdk/PROTOCOL.md): a device proves it holds a P-256 key by signing a fresh server
//! challenge that is bound to the tenant, the person and the policy. A fingerprint can be copied; a
//! key kept non-extractable in WebCrypto (or a platform keystore) cannot.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use smartauth_store::DeviceChallenge;

use crate::error::{ApiError, ApiResult};
use crate::startup::App;

/// How long a challenge waits for its attempt: the SDK asks for it just before the attempt.
pub const CHALLENGE_TTL_SECS: i64 = 120;
/// Challenges one person may have waiting at once.
const MAX_OUTSTANDING: u32 = 10;
/// What the device signs, before the challenge.
pub const SIGNING_PREFIX: &str = "smartauth-device-binding/v1.";

pub struct Issued {
    pub challenge: String,
    pub expires_at: i64,
}

fn challenge_hash(challenge: &str) -> String {
    hex::encode(Sha256::digest(challenge.as_bytes()))
}

/// A new challenge for this tenant, person and policy. Only its hash is stored.
pub async fn issue(app: &App, client_id: &str, person_id: &str, policy_id: &str) -> ApiResult<Issued> {
    let challenge = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let now = Utc::now().timestamp_millis();
    let record = DeviceChallenge {
        challenge_hash: challenge_hash(&challenge),
        client_id: client_id.to_owned(),
        person_id: person_id.to_owned(),
        policy_id: policy_id.to_owned(),
        expires_at: now + CHALLENGE_TTL_SECS * 1000,
    };
    if !app.store.insert_device_challenge(&record, now, MAX_OUTSTANDING).await? {
        return Err(ApiError::TooManyRequests {
            message: format!("{MAX_OUTSTANDING} device challenges are already waiting for this person"),
            retry_after_secs: CHALLENGE_TTL_SECS as u64,
        });
    }
    Ok(Issued { challenge, expires_at: record.expires_at })
}

/// `context.device.binding` as sent.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindingBody {
    public_key: PublicJwk,
    challenge: String,
    signature: String,
}

/// A public JWK; members other than these (`key_ops`, `ext`, `alg`…) are ignored.
#[derive(Deserialize)]
pub struct PublicJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
}

fn invalid(why: &str) -> ApiError {
    ApiError::InvalidDeviceBinding(format!("context.device.binding: {why}"))
}

impl PublicJwk {
    /// The uncompressed SEC1 point (0x04 || x || y) of a P-256 public key.
    fn point(&self) -> ApiResult<Vec<u8>> {
        if self.kty != "EC" || self.crv != "P-256" {
            return Err(invalid("publicKey must be an EC P-256 JWK"));
        }
        let coordinate =
            |c: &str| {
                URL_SAFE_NO_PAD.decode(c).ok().filter(|b| b.len() == 32).ok_or_else(|| {
                    invalid("publicKey.x and publicKey.y must be 32 bytes each, base64url without padding")
                })
            };
        let mut point = vec![0x04];
        point.extend(coordinate(&self.x)?);
        point.extend(coordinate(&self.y)?);
        Ok(point)
    }

    /// RFC 7638 thumbprint: SHA-256 of the required members in lexicographic order, base64url.
    fn thumbprint(&self) -> String {
        let canonical = format!(r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#, self.crv, self.kty, self.x, self.y);
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// Checks a binding and uses up its challenge: it must have been issued to this tenant, person and
/// policy, not have expired, not have been used, and carry a valid signature by the key sent.
/// Returns the key's thumbprint.
pub async fn verify(
    app: &App,
    binding: BindingBody,
    client_id: &str,
    person_id: &str,
    policy_id: &str,
) -> ApiResult<String> {
    if binding.challenge.len() > 64 || binding.signature.len() > 128 {
        return Err(invalid("the challenge or the signature is too long"));
    }
    let point = binding.public_key.point()?;
    let signature = URL_SAFE_NO_PAD
        .decode(&binding.signature)
        .ok()
        .filter(|s| s.len() == 64)
        .ok_or_else(|| invalid("signature must be the 64-byte r || s, base64url without padding"))?;
    // Taken before the signature is checked: a challenge is tried once, right or wrong.
    let taken = app.store.take_device_challenge(&challenge_hash(&binding.challenge)).await?;
    let fits = taken.as_ref().is_some_and(|c| {
        c.client_id == client_id
            && c.person_id == person_id
            && c.policy_id == policy_id
            && c.expires_at >= Utc::now().timestamp_millis()
    });
    if !fits {
        return Err(invalid(
            "the challenge is unknown, expired, already used, or was issued for another person or policy; ask for a \
             new one",
        ));
    }
    let message = format!("{SIGNING_PREFIX}{}", binding.challenge);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        .verify(message.as_bytes(), &signature)
        .map_err(|_| invalid("the signature does not verify with publicKey"))?;
    Ok(binding.public_key.thumbprint())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thumbprint_is_rfc_7638_s() {
        // RFC 7638 has no P-256 example; this one is from RFC 9449 (DPoP), section 4.1's key.
        let jwk = PublicJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs".into(),
            y: "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA".into(),
        };
        assert_eq!(jwk.thumbprint(), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
    }
}
