/// A one-time code as typed by the user: only ASCII digits, exactly the policy's length.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl OtpCode {
    pub fn parse(raw: &str, length: u8) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.len() != usize::from(length) || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("code must be exactly {length} digits"));
        }
        Ok(OtpCode(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for OtpCode {
    // Codes never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OtpCode(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_digits_of_the_policy_length() {
        assert!(OtpCode::parse("12345678", 8).is_ok());
        assert!(OtpCode::parse(" 123456 ", 6).is_ok());
        assert!(OtpCode::parse("1234567", 8).is_err());
        assert!(OtpCode::parse("1234567a", 8).is_err());
        assert!(OtpCode::parse("١٢٣٤٥٦", 6).is_err());
        assert_eq!(format!("{:?}", OtpCode::parse("123456", 6).unwrap()), "OtpCode(***)");
    }
}
