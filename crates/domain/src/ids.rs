use std::fmt;

/// An opaque identifier: 24 lowercase hexadecimal characters, like the ids in the Smart Auth documents.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

impl Id {
    /// Builds an id from 12 random bytes chosen by the caller (the domain has no source of randomness).
    pub fn from_bytes(bytes: [u8; 12]) -> Self {
        let mut s = String::with_capacity(24);
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        Id(s)
    }

    /// Accepts only the canonical form; anything else cannot name a stored object.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() == 24 && raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Id(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_24_lowercase_hex_characters_are_ids() {
        assert!(Id::parse("0123456789abcdef01234567").is_some());
        assert!(Id::parse("0123456789ABCDEF01234567").is_none());
        assert!(Id::parse("0123456789abcdef0123456").is_none());
        assert!(Id::parse("0123456789abcdef0123456g").is_none());
        assert_eq!(Id::from_bytes([0xab; 12]).as_str(), "abababababababababababab");
    }
}
