//! Getting codes to people: email over SMTP and SMS through an HTTP gateway.

pub mod email;
pub mod sms;

use crate::transaction::Transaction;

/// The text of a code message. It carries the code as one run of digits, first, so that nothing in a
/// transaction's text is read as the code; then the transaction it approves, when the attempt names
/// its amount, currency and payee, so that the person sees what the code approves (dynamic linking).
pub fn code_message(code: &str, ttl_seconds: u32, transaction: Option<&Transaction>) -> String {
    let minutes = ttl_seconds.div_ceil(60);
    let purpose = transaction.and_then(Transaction::summary).map(|s| format!(", for a {s}")).unwrap_or_default();
    format!("Your verification code is {code}{purpose}. It expires in {minutes} minute(s). Never share it with anyone.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_message_states_the_transaction_it_approves() {
        let pix =
            Transaction::parse(serde_json::json!({"type": "Pix", "amount": 150, "currency": "BRL", "payee": "João"}));
        assert_eq!(
            code_message("12345678", 300, pix.as_ref().ok()),
            "Your verification code is 12345678, for a Pix of R$ 150,00 to João. It expires in 5 minute(s). Never \
             share it with anyone."
        );
        assert_eq!(
            code_message("123456", 60, None),
            "Your verification code is 123456. It expires in 1 minute(s). Never share it with anyone."
        );
    }
}
