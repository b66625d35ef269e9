//! Where codes are sent: an email address or a phone number, both checked on the way in and masked
//! whenever they are shown back.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let bad = || Err(format!("{raw:?} is not an email address"));
        let odd = |c: char| c.is_whitespace() || c.is_control() || "<>,;\"\\".contains(c);
        if raw.len() > 254 || raw.chars().any(odd) || crate::text::hidden_in_id(raw).is_some() {
            return bad();
        }
        let Some((local, domain)) = raw.rsplit_once('@') else {
            return bad();
        };
        // A host name: letters (any script), ASCII digits and inner hyphens, and a top-level label that is not
        // a number (other scripts' digits are refused: IDNA maps fullwidth `１０` to `10`). No address literal (`[127.0.0.1]`, `10.0.0.1`): the mail relay would be asked to deliver to
        // an address of the client's choosing.
        let labels_ok = domain.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphabetic()))
        });
        let tld_named = domain.rsplit('.').next().is_some_and(|t| !t.chars().all(|c| c.is_ascii_digit()));
        if local.is_empty() || local.contains('@') || !domain.contains('.') || !labels_ok || !tld_named {
            return bad();
        }
        Ok(Email(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `john@example.com` → `j***@example.com`.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or(("", &self.0));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

/// A phone number in E.164 form: `+` and 8 to 15 digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// Accepts digits with an optional leading `+` and the usual separators (spaces, dashes, dots, parentheses).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let body = raw.strip_prefix('+').unwrap_or(raw);
        if !body.chars().all(|c| c.is_ascii_digit() || " -.()".contains(c)) {
            return Err(format!("{raw:?} is not a phone number"));
        }
        let mut digits: String = body.chars().filter(char::is_ascii_digit).collect();
        // "0055 21 ..." dials out with the international prefix: the number is +55 21 ...
        if !raw.starts_with('+') && digits.starts_with("00") {
            digits.drain(..2);
        }
        // E.164: a number starts with its country code, and none starts with 0 (a trunk or local prefix).
        if digits.starts_with('0') {
            return Err("a phone number starts with its country code (such as +55), not with 0".into());
        }
        if !(8..=15).contains(&digits.len()) {
            return Err("a phone number has 8 to 15 digits, country code included".into());
        }
        Ok(Phone(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `+5521982895497` → `+55*******5497`.
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        let keep_end = 4.min(digits.len());
        let keep_start = 2.min(digits.len() - keep_end);
        let hidden = digits.len() - keep_end - keep_start;
        format!("+{}{}{}", &digits[..keep_start], "*".repeat(hidden), &digits[digits.len() - keep_end..])
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_masked() {
        let e = Email::parse(" John@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "John@example.com");
        assert_eq!(e.masked(), "J***@example.com");
        assert!(Email::parse("joão@correio.com.br").is_ok() && Email::parse("a@münchen.de").is_ok(), "any script");
        for bad in [
            "",
            "john",
            "john@",
            "@example.com",
            "john@example",
            "jo hn@example.com",
            "a@b@c.com",
            "x@-a.com",
            "a@[127.0.0.1]",
            "a@10.0.0.1",
            "a@[IPv6:::1].com",
            "a@exa_mple.com",
            "a@１０.０.０.１",
            "a@٣.٣",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_international_prefix_is_the_plus_and_no_number_starts_with_zero() {
        assert_eq!(Phone::parse("0055 21 98289-5497").unwrap().as_str(), "+5521982895497");
        assert!(Phone::parse("+0055 21 98289-5497").is_err());
        assert!(Phone::parse("021 98289-5497").is_err(), "a trunk prefix, not a country code");
    }

    #[test]
    fn phones_become_e164_and_are_masked() {
        let p = Phone::parse("55 (21) 98289-5497").unwrap();
        assert_eq!(p.as_str(), "+5521982895497");
        assert_eq!(p.masked(), "+55*******5497");
        assert!(Phone::parse("+1234").is_err());
        assert!(Phone::parse("call me").is_err());
        assert!(Phone::parse("1234567890123456").is_err());
    }
}
