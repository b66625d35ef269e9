//! Keys, randomness and the few primitives built on them: encryption at rest (AES-256-GCM under the
//! master key), keyed hashes for one-time codes, and identifiers.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{bail, Context};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use smartauth_domain::Id;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The master key's file in the data dir, when `SMARTAUTH_MASTER_KEY` is not set.
pub const MASTER_KEY_FILE: &str = "master.key";

/// The key that encrypts secrets and biometric data at rest, and from which other keys are derived.
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
    code_key: [u8; 32],
    media_key: [u8; 32],
    check: [u8; 32],
    positions: aes_gcm::aes::Aes256,
    position_tag_key: [u8; 32],
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let derive = |label: &[u8]| {
            let mut mac = <HmacSha256 as Mac>::new_from_slice(bytes).expect("HMAC takes any key length");
            mac.update(label);
            let out: [u8; 32] = mac.finalize().into_bytes().into();
            out
        };
        MasterKey {
            cipher: Aes256Gcm::new(&derive(b"smartauth/at-rest/v1").into()),
            code_key: derive(b"smartauth/codes/v1"),
            media_key: derive(b"smartauth/media-links/v1"),
            check: derive(b"smartauth/key-check/v1"),
            positions: aes_gcm::aes::Aes256::new(&derive(b"smartauth/positions/v1").into()),
            position_tag_key: derive(b"smartauth/position-tags/v1"),
        }
    }

    pub fn from_base64(text: &str) -> anyhow::Result<Self> {
        let bytes = STANDARD.decode(text.trim()).context("the master key is not valid base64")?;
        let Ok(bytes) = <[u8; 32]>::try_from(bytes.as_slice()) else {
            bail!("the master key must be 32 bytes (44 characters of base64)")
        };
        Ok(Self::from_bytes(&bytes))
    }

    /// The key from `SMARTAUTH_MASTER_KEY`, else from `master.key` in the data dir; `None` when
    /// neither is there. Never creates one: see [`MasterKey::create`].
    pub fn load(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Option<Self>> {
        if let Some(text) = configured {
            return Self::from_base64(text).context("SMARTAUTH_MASTER_KEY").map(Some);
        }
        let path = data_dir.join(MASTER_KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_base64(&text).with_context(|| path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// A new key, written to `master.key` in the data dir (readable by the owner only).
    pub fn create(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join(MASTER_KEY_FILE);
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        write_private(&path, &STANDARD.encode(bytes))?;
        tracing::info!(path = %path.display(), "generated a new master key; keep a copy apart from the database backups (see the README, Backups)");
        Ok(Self::from_bytes(&bytes))
    }

    /// A value that tells whether a key is this one without revealing it (a keyed hash under a key
    /// derived for nothing else). The database keeps it, so that a process given another key refuses
    /// to run instead of failing every request that needs a secret.
    pub fn check_value(&self) -> String {
        hex::encode(self.check)
    }

    /// Whether `value` is this key's [`MasterKey::check_value`].
    pub fn has_check_value(&self, value: &str) -> bool {
        constant_time_eq(self.check_value().as_bytes(), value.trim().as_bytes())
    }

    pub fn encrypt(&self, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain)
            .expect("AES-GCM encryption cannot fail for in-memory data");
        let mut out = Vec::with_capacity(1 + 12 + sealed.len());
        out.push(1u8);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn decrypt(&self, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        if sealed.len() < 13 || sealed[0] != 1 {
            bail!("unknown ciphertext format");
        }
        self.cipher
            .decrypt(Nonce::from_slice(&sealed[1..13]), &sealed[13..])
            .map_err(|_| anyhow::anyhow!("decryption failed: wrong master key or corrupt data"))
    }

    pub fn encrypt_text(&self, plain: &str) -> String {
        format!("v1:{}", STANDARD.encode(self.encrypt(plain.as_bytes())))
    }

    pub fn decrypt_text(&self, sealed: &str) -> anyhow::Result<String> {
        let body = sealed.strip_prefix("v1:").context("unknown ciphertext format")?;
        let bytes = self.decrypt(&STANDARD.decode(body).context("corrupt ciphertext")?)?;
        String::from_utf8(bytes).context("decrypted text is not UTF-8")
    }

    /// The signature of a media link: binds the tenant, the object and the expiry.
    pub fn media_signature(&self, parts: &[&str]) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.media_key).expect("HMAC takes any key length");
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// A keyed hash of a one-time code, bound to its attempt and method so that a hash cannot be replayed elsewhere.
    pub fn code_hash(&self, attempt_id: &str, method: &str, code: &str) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.code_key).expect("HMAC takes any key length");
        for part in [attempt_id, method, code] {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// An opaque name for a position in a sequence that all tenants share (an event's or an audit line's
    /// `seq`), valid in `scope` only: a delivery id or a page cursor. A tenant given the number itself could
    /// count the other tenants' events between two of its own. It is the block cipher (AES-256, a key derived
    /// for nothing else) of the number and a tag of the scope: the same position in the same scope always
    /// has the same name, and [`MasterKey::open_position`] takes back only names made for that scope.
    pub fn seal_position(&self, scope: &str, seq: i64) -> String {
        use aes_gcm::aes::cipher::BlockEncrypt;
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(&seq.to_be_bytes());
        block[8..].copy_from_slice(&self.position_tag(scope));
        let mut block = block.into();
        self.positions.encrypt_block(&mut block);
        hex::encode(block)
    }

    /// The position a [`MasterKey::seal_position`] name stands for, if it was made for `scope`.
    pub fn open_position(&self, scope: &str, name: &str) -> Option<i64> {
        use aes_gcm::aes::cipher::BlockDecrypt;
        // One spelling per position: the lowercase hex it was given out in.
        if !name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return None;
        }
        let bytes: [u8; 16] = hex::decode(name).ok()?.try_into().ok()?;
        let mut block = bytes.into();
        self.positions.decrypt_block(&mut block);
        let (seq, tag) = block.split_at(8);
        constant_time_eq(tag, &self.position_tag(scope)).then(|| i64::from_be_bytes(seq.try_into().expect("8 bytes")))
    }

    fn position_tag(&self, scope: &str) -> [u8; 8] {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.position_tag_key).expect("HMAC takes any key length");
        mac.update(scope.as_bytes());
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&mac.finalize().into_bytes()[..8]);
        tag
    }

    /// A keyed hash of a phone number or email address, to count the codes sent to it without
    /// keeping it. Spellings of one mailbox or one phone count as one ([`mailbox_of`]).
    pub fn destination_hash(&self, address: &str) -> String {
        self.code_hash("", "destination", &mailbox_of(address))
    }
}

/// The one inbox or phone that spellings of an address reach, for the caps on codes sent (issue 8):
/// - email: case; a `+tag` (sub-address: `victim+1@` is `victim@` at Gmail, Outlook, iCloud, Fastmail,
///   Proton and most hosts); and, at Gmail, dots in the local part;
/// - phone (`+digits`): zeros typed between Brazil's country code and the area code (`+55 021 ...`, the
///   trunk prefix, which E.164 leaves out). Other countries' trunk prefixes are not known here (Italy
///   keeps its zero), so only Brazil's is taken out.
pub fn mailbox_of(address: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    // NFKC first: `ｖictim@` (fullwidth) and `victim@` are one mailbox name to a person reading them.
    let address: String = address.trim().nfkc().collect::<String>().to_lowercase();
    if let Some((local, domain)) = address.rsplit_once('@') {
        // A tag needs a mailbox before it: `+x@host` is its own address.
        let local = match local.split_once('+') {
            Some((mailbox, _)) if !mailbox.is_empty() => mailbox,
            _ => local,
        };
        let local = local.to_owned();
        // UTS #46: "ｇmail.com" (fullwidth) and "exämple.com" are the ASCII domains a relay delivers them to.
        let domain = idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_owned());
        let local = match domain.as_str() {
            "gmail.com" | "googlemail.com" => local.replace('.', ""),
            _ => local,
        };
        let domain = if domain == "googlemail.com" { "gmail.com" } else { domain.as_str() };
        return format!("{local}@{domain}");
    }
    match address.strip_prefix("+55") {
        Some(national) => format!("+55{}", national.trim_start_matches('0')),
        None => address,
    }
}

pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn new_id() -> Id {
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    Id::from_bytes(bytes)
}

/// 32 random bytes, URL-safe: client secrets and admin tokens.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A one-time code of `length` uniformly random digits from the operating system's CSPRNG.
pub fn new_code(length: u8) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..length).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_mailbox_or_phone_are_one_destination() {
        for (a, b) in [
            ("Victim@Example.com", "victim@example.com"),
            ("victim+1@example.com", "victim@example.com"),
            ("victim+a+b@example.com", "victim@example.com"),
            ("v.i.c.tim@gmail.com", "victim@googlemail.com"),
            ("victim@\u{FF47}mail.com", "victim@gmail.com"),
            ("\u{FF56}ictim@example.com", "victim@example.com"),
            ("v.ictim@ex\u{E4}mple.com", "v.ictim@xn--exmple-cua.com"),
            ("+55021982895497", "+5521982895497"),
        ] {
            assert_eq!(mailbox_of(a), mailbox_of(b), "{a} and {b}");
        }
        for (a, b) in [
            ("v.ictim@example.com", "victim@example.com"),
            ("+a@example.com", "+b@example.com"),
            ("victim@example.com", "victim@example.org"),
            ("+390612345678", "+39612345678"),
            ("+5521982895497", "+5521982895498"),
        ] {
            assert_ne!(mailbox_of(a), mailbox_of(b), "{a} and {b}");
        }
    }

    #[test]
    fn sealed_data_opens_only_with_its_key() {
        let key = MasterKey::from_bytes(&[7; 32]);
        let sealed = key.encrypt_text("s3cret");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(key.decrypt_text(&sealed).unwrap(), "s3cret");
        assert_ne!(key.encrypt_text("s3cret"), sealed, "nonces must differ");
        assert!(MasterKey::from_bytes(&[8; 32]).decrypt_text(&sealed).is_err());
    }

    #[test]
    fn code_hashes_are_bound_to_attempt_and_method() {
        let key = MasterKey::from_bytes(&[7; 32]);
        let h = key.code_hash("a1", "sms_authentication", "123456");
        assert_eq!(h, key.code_hash("a1", "sms_authentication", "123456"));
        assert_ne!(h, key.code_hash("a2", "sms_authentication", "123456"));
        assert_ne!(h, key.code_hash("a1", "email_authentication", "123456"));
    }

    #[test]
    fn codes_have_the_requested_length_and_vary() {
        let codes: Vec<String> = (0..50).map(|_| new_code(8)).collect();
        assert!(codes.iter().all(|c| c.len() == 8 && c.bytes().all(|b| b.is_ascii_digit())));
        codes.iter().for_each(|c| assert!(codes.iter().filter(|d| *d == c).count() < 3));
    }

    #[test]
    fn the_check_value_tells_keys_apart_without_being_a_key() {
        let key = MasterKey::from_bytes(&[7; 32]);
        let check = key.check_value();
        assert_eq!(check, MasterKey::from_bytes(&[7; 32]).check_value());
        assert!(key.has_check_value(&check));
        assert!(!MasterKey::from_bytes(&[8; 32]).has_check_value(&check));
        assert_ne!(check, hex::encode([7u8; 32]));
    }

    #[test]
    fn a_position_s_name_hides_it_and_opens_only_in_its_scope() {
        let key = MasterKey::from_bytes(&[7; 32]);
        let (a, b) = (key.seal_position("deliveries:w1", 41), key.seal_position("deliveries:w1", 42));
        assert_eq!(a.len(), 32);
        assert_eq!(a, key.seal_position("deliveries:w1", 41), "a position keeps its name");
        assert_ne!(a[..16], b[..16], "neighbours share nothing visible");
        assert_eq!(key.open_position("deliveries:w1", &b), Some(42));
        assert_eq!(key.open_position("deliveries:w2", &b), None, "another subscription's name");
        assert_eq!(MasterKey::from_bytes(&[8; 32]).open_position("deliveries:w1", &b), None, "another key");
        for bad in ["", "42", &b[..30], &format!("{b}00"), "zz", &"0".repeat(32), &b.to_uppercase()] {
            assert_eq!(key.open_position("deliveries:w1", bad), None, "{bad}");
        }
    }

    #[test]
    fn a_master_key_must_be_32_bytes_of_base64() {
        assert!(MasterKey::from_base64(&STANDARD.encode([1u8; 32])).is_ok());
        assert!(MasterKey::from_base64(&STANDARD.encode([1u8; 16])).is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
    }
}
