use std::fmt;

/// The tenant's identifier for a person. A CPF is stored as its 11 digits (so `952.360.980-76` and
/// `95236098076` name the same person); any other identifier is kept as given, within a safe alphabet.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PersonIdError {
    #[error("personId must not be empty")]
    Empty,
    #[error("personId must be at most 64 characters")]
    TooLong,
    #[error("personId may contain only letters, digits and . - _ @ +")]
    BadCharacter,
    #[error("personId is not a valid CPF (check digits do not match)")]
    InvalidCpf,
}

impl PersonId {
    /// Parses and normalizes. With `validate_cpf`, an identifier shaped like a CPF must carry correct check digits.
    pub fn parse(raw: &str, validate_cpf: bool) -> Result<Self, PersonIdError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(PersonIdError::Empty);
        }
        if raw.chars().count() > 64 {
            return Err(PersonIdError::TooLong);
        }
        if !raw.chars().all(|c| c.is_ascii_alphanumeric() || ".-_@+".contains(c)) {
            return Err(PersonIdError::BadCharacter);
        }
        if let Some(digits) = cpf_digits(raw) {
            if validate_cpf && !cpf_check_digits_match(&digits) {
                return Err(PersonIdError::InvalidCpf);
            }
            return Ok(PersonId(digits));
        }
        if validate_cpf && raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PersonIdError::InvalidCpf);
        }
        Ok(PersonId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For values read back from storage, which were parsed on the way in.
    pub fn from_trusted(stored: String) -> Self {
        PersonId(stored)
    }
}

/// `ddd.ddd.ddd-dd` or 11 bare digits.
fn cpf_digits(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    let formatted = b.len() == 14
        && b[3] == b'.'
        && b[7] == b'.'
        && b[11] == b'-'
        && b.iter().enumerate().all(|(i, c)| matches!(i, 3 | 7 | 11) || c.is_ascii_digit());
    let bare = b.len() == 11 && b.iter().all(u8::is_ascii_digit);
    (formatted || bare).then(|| raw.chars().filter(char::is_ascii_digit).collect())
}

fn cpf_check_digits_match(digits: &str) -> bool {
    let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 11 || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    let check = |n: usize| {
        let sum: u32 = (0..n).map(|i| d[i] * (n as u32 + 1 - i as u32)).sum();
        let r = (sum * 10) % 11;
        if r == 10 {
            0
        } else {
            r
        }
    };
    check(9) == d[9] && check(10) == d[10]
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formatted_cpf_is_stored_as_digits() {
        assert_eq!(PersonId::parse("952.360.980-76", true).unwrap().as_str(), "95236098076");
        assert_eq!(PersonId::parse("95236098076", true).unwrap().as_str(), "95236098076");
    }

    #[test]
    fn a_cpf_with_a_wrong_check_digit_is_refused_only_when_validation_is_on() {
        assert_eq!(PersonId::parse("952.360.980-77", true), Err(PersonIdError::InvalidCpf));
        assert_eq!(PersonId::parse("11111111111", true), Err(PersonIdError::InvalidCpf));
        assert_eq!(PersonId::parse("1234", true), Err(PersonIdError::InvalidCpf));
        assert!(PersonId::parse("952.360.980-77", false).is_ok());
    }

    #[test]
    fn other_identifiers_keep_their_form_within_a_safe_alphabet() {
        assert_eq!(PersonId::parse("user-42@acme", false).unwrap().as_str(), "user-42@acme");
        assert_eq!(PersonId::parse("", false), Err(PersonIdError::Empty));
        assert_eq!(PersonId::parse("a b", false), Err(PersonIdError::BadCharacter));
        assert_eq!(PersonId::parse("../x", false), Err(PersonIdError::BadCharacter));
        assert_eq!(PersonId::parse(&"a".repeat(65), false), Err(PersonIdError::TooLong));
    }
}
