//! Getting codes to people: email over SMTP and SMS through an HTTP gateway.

pub mod email;
pub mod sms;

/// The text of a code message. It carries the code as one run of digits.
pub fn code_message(code: &str, ttl_seconds: u32) -> String {
    let minutes = ttl_seconds.div_ceil(60);
    format!("Your verification code is {code}. It expires in {minutes} minute(s). Never share it with anyone.")
}
