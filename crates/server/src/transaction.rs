//! Transaction binding (dynamic linking, PSD2 RTS art. 5): the transfer an attempt approves, as a
//! bounded JSON object, and its SHA-256 over the RFC 8785 (JCS) canonical JSON, which the attestation
//! carries as `transactionHash` so that the tenant's backend can check that an approval is for the
//! transfer it is about to execute and not another.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use smartauth_domain::text;

use crate::delivery::messages::Language;

/// The most bytes of canonical JSON: a payment's facts (amount, currency, payee and a few ids) fit
/// many times over, and the object is stored with every attempt and shown with it.
pub const MAX_CANONICAL_BYTES: usize = 2048;
/// Nesting below the transaction object itself (`{"payee": {"account": {...}}}` is depth 2).
pub const MAX_DEPTH: usize = 4;
/// Members of one object, and items of one array.
pub const MAX_ENTRIES: usize = 32;
pub const MAX_KEY_CHARS: usize = 64;
/// Integers beyond ±(2^53 - 1) lose digits as IEEE doubles, which JCS (and every JavaScript backend)
/// reads numbers as: the hash would no longer say which amount was meant (RFC 7493, I-JSON).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A transaction as the attempt keeps it: the object as sent, and its hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// Emptied when the person is erased.
    #[serde(default)]
    pub details: Map<String, Value>,
    /// Lowercase hex SHA-256 of the RFC 8785 canonical JSON of `details`.
    pub hash: String,
}

impl Transaction {
    /// Checks a request's `transaction`; the error is the message of a 400.
    pub fn parse(value: Value) -> Result<Transaction, String> {
        let Value::Object(details) = value else {
            return Err("transaction must be a JSON object, such as {\"amount\": \"150.00\", \"currency\": \
                        \"BRL\", \"payee\": \"João\"}"
                .into());
        };
        check_object(&details, 0)?;
        let canonical = canonical_json(&details)?;
        if canonical.len() > MAX_CANONICAL_BYTES {
            return Err(format!(
                "transaction is {} bytes as canonical JSON; at most {MAX_CANONICAL_BYTES} are accepted",
                canonical.len()
            ));
        }
        Ok(Transaction { hash: hex::encode(Sha256::digest(&canonical)), details })
    }

    /// "Pix of R$ 150,00 to João" ("Pix de R$ 150,00 para João"), when the transaction names an amount,
    /// a currency and a payee (a string, or an object with a `name`); `type` names the kind of transfer.
    /// For the code's message.
    pub fn summary_in(&self, language: Language) -> Option<String> {
        let d = &self.details;
        // An ISO 4217 code: free text here would be read as part of the message ("R$ 1,00 to Bob; ...").
        let currency = d.get("currency")?.as_str()?.trim().to_ascii_uppercase();
        if !(currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase())) {
            return None;
        }
        let currency = currency.as_str();
        let amount = amount_text(d.get("amount")?, currency)?;
        let payee = match d.get("payee")? {
            Value::String(name) => name.as_str(),
            Value::Object(payee) => payee.get("name")?.as_str()?,
            _ => return None,
        };
        // Runs of spaces would push what follows the name out of sight.
        let payee = shortened(&payee.split_whitespace().collect::<Vec<_>>().join(" "), 40);
        let (payment, of, to) = match language {
            Language::En => ("Payment", "of", "to"),
            Language::PtBr => ("Pagamento", "de", "para"),
        };
        let kind = match d.get("type").and_then(Value::as_str).map(str::trim) {
            Some(kind) if !kind.is_empty() && kind.chars().count() <= 20 => kind.to_owned(),
            _ => payment.to_owned(),
        };
        (!payee.is_empty() && !currency.is_empty()).then(|| format!("{kind} {of} {amount} {to} {payee}"))
    }
}

/// Whether `json` is an object or array that names a member twice somewhere (tokens are refused for it too).
pub fn names_a_member_twice(json: &[u8]) -> bool {
    matches!(serde_json::from_slice::<Sent>(json), Err(e) if e.to_string().contains(NAMED_TWICE))
}

const NAMED_TWICE: &str = "is named twice";

/// A request's `transaction` as sent: JSON that names a member twice is refused, since the backend's parser
/// may keep the other one than ours, and the hash would then approve a transfer the backend does not see.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent(pub Value);

impl<'de> Deserialize<'de> for Sent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Sent, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Sent)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Sent(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Sent(value) = map.next_value()?;
            if object.insert(key.clone(), value).is_some() {
                return Err(serde::de::Error::custom(format!("transaction: the member {key:?} {NAMED_TWICE}")));
            }
        }
        Ok(Value::Object(object))
    }
}

/// RFC 8785 canonical JSON of the object.
pub fn canonical_json(details: &Map<String, Value>) -> Result<Vec<u8>, String> {
    serde_json_canonicalizer::to_vec(details).map_err(|e| format!("transaction cannot be canonicalized: {e}"))
}

fn check_object(object: &Map<String, Value>, depth: usize) -> Result<(), String> {
    if object.len() > MAX_ENTRIES {
        return Err(format!("transaction: an object has more than {MAX_ENTRIES} members"));
    }
    for (key, value) in object {
        if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
            return Err(format!("transaction: member names must be 1-{MAX_KEY_CHARS} characters"));
        }
        visible("a member name", key)?;
        check_value(value, depth)?;
    }
    Ok(())
}

fn check_value(value: &Value, depth: usize) -> Result<(), String> {
    match value {
        Value::Object(_) | Value::Array(_) if depth >= MAX_DEPTH => {
            Err(format!("transaction: nesting deeper than {MAX_DEPTH} levels is not accepted"))
        }
        Value::Object(object) => check_object(object, depth + 1),
        Value::Array(items) if items.len() > MAX_ENTRIES => {
            Err(format!("transaction: an array has more than {MAX_ENTRIES} items"))
        }
        Value::Array(items) => items.iter().try_for_each(|v| check_value(v, depth + 1)),
        Value::Number(n) => {
            let safe = match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => u <= MAX_SAFE_INTEGER,
                (None, Some(i), _) => i.unsigned_abs() <= MAX_SAFE_INTEGER,
                // A fraction past 2^53 (9007199254740993.0) is not the number written either.
                (None, None, Some(f)) => f.is_finite() && f.abs() <= MAX_SAFE_INTEGER as f64,
                _ => false,
            };
            match safe {
                true => Ok(()),
                false => Err("transaction: numbers must be finite and within ±(2^53 - 1); send larger amounts as \
                              strings"
                    .into()),
            }
        }
        Value::String(s) => visible("a value", s),
        Value::Bool(_) | Value::Null => Ok(()),
    }
}

/// The transaction is shown to the person who approves it: nothing may hide or reorder what it says.
fn visible(what: &str, s: &str) -> Result<(), String> {
    match text::hidden_in_name(s) {
        Some(c) => Err(format!("transaction: {what} must not contain {}", text::describe(c))),
        None => Ok(()),
    }
}

fn amount_text(amount: &Value, currency: &str) -> Option<String> {
    let brl = currency.eq_ignore_ascii_case("BRL");
    // (what to show, whether it is a decimal with cents that reads the Brazilian way in BRL)
    let (digits, decimal) = match amount {
        // An amount a message can state: cents at most, and under a trillion. Another number is shown as
        // sent when it is short, or not at all: the SMS must stay one message.
        Value::Number(n) => {
            // A transfer of a negative amount is not something to state to the person.
            let f = n.as_f64().filter(|f| f.is_sign_positive())?;
            let cents = f * 100.0;
            match f < 1e12 && (cents - cents.round()).abs() < 1e-6 {
                true => (format!("{f:.2}"), true),
                false => (Some(n.to_string()).filter(|s| s.len() <= 20)?, false),
            }
        }
        Value::String(s) if !s.trim().is_empty() && s.trim().chars().count() <= 20 => {
            let digits = s.trim().to_owned();
            // Digits, with one decimal point or comma: anything else ("-150", "1 50", words) is not stated.
            let (units, fraction) = digits.split_once(['.', ',']).unwrap_or((&digits, ""));
            let numeric = !units.is_empty()
                && units.bytes().all(|b| b.is_ascii_digit())
                && fraction.bytes().all(|b| b.is_ascii_digit());
            if !numeric {
                return None;
            }
            // A decimal written as a string ("150.00", the usual way to send money in JSON) reads as a number.
            let decimal = digits.contains('.') && fraction.len() == 2 || fraction.is_empty();
            let digits = if fraction.is_empty() { format!("{units}.00") } else { digits };
            (digits, decimal)
        }
        _ => return None,
    };
    Some(match brl {
        // Brazilian usage: "R$ 150,00". Any other string is shown as the tenant wrote it.
        true if decimal => format!("R$ {}", digits.replace('.', ",")),
        true => format!("R$ {digits}"),
        false => format!("{digits} {}", shortened(currency, 8)),
    })
}

fn shortened(s: &str, max: usize) -> String {
    match s.chars().count() > max {
        true => format!("{}…", s.chars().take(max - 1).collect::<String>()),
        false => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn canonical(value: Value) -> String {
        let Value::Object(map) = value else { unreachable!() };
        String::from_utf8(canonical_json(&map).unwrap()).unwrap()
    }

    /// RFC 8785 §3.2.2, the example of the whole transformation (its numbers are the ones of
    /// Appendix B's serialisation rules).
    #[test]
    fn canonicalisation_follows_rfc_8785() {
        let input: Value = serde_json::from_str(
            r#"{
                "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
                "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
                "literals": [null, true, false]
            }"#,
        )
        .unwrap();
        assert_eq!(
            canonical(input),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    /// RFC 8785 Appendix B: IEEE 754 doubles and their canonical text.
    #[test]
    fn numbers_serialise_as_in_rfc_8785_appendix_b() {
        for (bits, text) in [
            (0x0000000000000000_u64, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ] {
            assert_eq!(canonical(json!({"n": f64::from_bits(bits)})), format!(r#"{{"n":{text}}}"#), "{bits:#x}");
        }
    }

    #[test]
    fn the_hash_is_of_the_canonical_form_whatever_the_order_and_spacing() {
        let a = Transaction::parse(json!({"amount": 150.0, "currency": "BRL", "payee": "João"})).unwrap();
        let b =
            Transaction::parse(serde_json::from_str(r#"{ "payee":"João","currency" :"BRL","amount":1.5E2 }"#).unwrap())
                .unwrap();
        assert_eq!(a.hash, b.hash);
        let canonical = r#"{"amount":150,"currency":"BRL","payee":"João"}"#;
        assert_eq!(a.hash, hex::encode(Sha256::digest(canonical.as_bytes())));
    }

    #[test]
    fn unbounded_or_unsafe_transactions_are_refused() {
        let long = "x".repeat(MAX_CANONICAL_BYTES);
        let deep = json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}});
        let wide: Map<String, Value> = (0..=MAX_ENTRIES).map(|i| (format!("k{i}"), json!(i))).collect();
        for bad in [
            json!([1, 2]),
            json!("150.00"),
            json!({"memo": long}),
            deep,
            Value::Object(wide),
            json!({"amount": 9_007_199_254_740_992_u64}),
            json!({"payee": "Jo\u{202E}ão"}),
            json!({"": 1}),
        ] {
            assert!(Transaction::parse(bad.clone()).is_err(), "{bad}");
        }
        assert!(Transaction::parse(json!({"a": {"b": {"c": {"d": {"e": 1}}}}})).is_ok(), "four levels below the top");
    }

    #[test]
    fn a_summary_states_amount_currency_and_payee() {
        let pix = json!({"type": "Pix", "amount": 150, "currency": "BRL", "payee": {"name": "João"}});
        assert_eq!(
            Transaction::parse(pix).unwrap().summary_in(Language::En).as_deref(),
            Some("Pix of R$ 150,00 to João")
        );
        let card = json!({"amount": "42.10", "currency": "EUR", "payee": "ACME Ltd"});
        assert_eq!(
            Transaction::parse(card).unwrap().summary_in(Language::En).as_deref(),
            Some("Payment of 42.10 EUR to ACME Ltd")
        );
        assert_eq!(Transaction::parse(json!({"amount": 1, "currency": "BRL"})).unwrap().summary_in(Language::En), None);
        // What cannot be stated plainly is left out of the message: a negative amount, a currency that is not an
        // ISO code, an amount that is not a number; and a payee's runs of spaces do not hide what follows.
        let summary = |t: Value| Transaction::parse(t).unwrap().summary_in(Language::En);
        for bad in [
            json!({"amount": -150, "currency": "BRL", "payee": "João"}),
            json!({"amount": -0.0, "currency": "BRL", "payee": "João"}),
            json!({"amount": "-150", "currency": "BRL", "payee": "João"}),
            json!({"amount": "1 50", "currency": "BRL", "payee": "João"}),
            json!({"amount": 150, "currency": "R$ 1,00 to Bob; code", "payee": "João"}),
        ] {
            assert_eq!(summary(bad.clone()), None, "{bad}");
        }
        let spaced =
            json!({"amount": "150", "currency": "brl", "payee": format!("João{}123456 is your code", " ".repeat(40))});
        assert_eq!(summary(spaced).as_deref(), Some("Payment of R$ 150,00 to João 123456 is your code"));
        let text = json!({"type": "Pix", "amount": "150.00", "currency": "BRL", "payee": "João"});
        assert_eq!(
            Transaction::parse(text).unwrap().summary_in(Language::PtBr).as_deref(),
            Some("Pix de R$ 150,00 para João")
        );
    }
}
