//! The messages a person receives with a code: SMS and email (plain text and HTML), in the client's
//! language and under its display name, from built-in templates or the tenant's own.
//!
//! Templates are text with `{{name}}` placeholders (`appName`, `code`, `minutes`, `transaction`) and one
//! kind of section, `{{#transaction}}…{{/transaction}}`, kept only when the attempt names a transfer.
//! Values are HTML-escaped in the HTML template. Every message carries the code as one run of digits
//! (API.md), and the SMS ends with the WebOTP line for the client's first allowed origin, so that
//! browsers and Android offer to fill the code in.

use serde::{Deserialize, Serialize};

use crate::transaction::Transaction;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    PtBr,
    En,
}

impl Language {
    pub const ALL: [&'static str; 2] = ["pt-BR", "en"];

    pub fn parse(raw: &str) -> Option<Language> {
        match raw {
            "pt-BR" => Some(Language::PtBr),
            "en" => Some(Language::En),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Language::PtBr => "pt-BR",
            Language::En => "en",
        }
    }
}

/// A tenant's own templates; what is left out falls back to the built-in one of the client's language.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Templates {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_html: Option<String>,
}

const PLACEHOLDERS: [&str; 4] = ["appName", "code", "minutes", "transaction"];
const SECTION_OPEN: &str = "{{#transaction}}";
const SECTION_CLOSE: &str = "{{/transaction}}";

impl Templates {
    /// Checks a tenant's templates: known placeholders only, balanced sections, the code in every body
    /// (a message without it would be useless), and sizes a carrier or a mailbox takes.
    pub fn validate(&self) -> Result<(), String> {
        let fields = [
            ("sms", &self.sms, 320, true),
            ("emailSubject", &self.email_subject, 200, false),
            ("emailText", &self.email_text, 10_000, true),
            ("emailHtml", &self.email_html, 50_000, true),
        ];
        for (name, value, max, needs_code) in fields {
            let Some(template) = value else { continue };
            if template.trim().is_empty() || template.chars().count() > max {
                return Err(format!("messageTemplates.{name} must be 1-{max} characters"));
            }
            // Line breaks and tabs belong in a message; other control and invisible characters do not.
            let visible: String = template.chars().filter(|c| !matches!(c, '\n' | '\r' | '\t')).collect();
            if let Some(c) = smartauth_domain::text::hidden_in_name(&visible) {
                return Err(format!(
                    "messageTemplates.{name} must not contain {}",
                    smartauth_domain::text::describe(c)
                ));
            }
            check_tags(template).map_err(|e| format!("messageTemplates.{name}: {e}"))?;
            // Outside the transaction section, which is dropped when the attempt names none.
            if needs_code && !without_sections(template).contains("{{code}}") {
                return Err(format!("messageTemplates.{name} must contain {{{{code}}}} outside {{{{#transaction}}}}"));
            }
            if name == "emailSubject" && template.contains("{{code}}") {
                // Subjects show on lock screens and in mail lists, and are kept in logs by relays.
                return Err("messageTemplates.emailSubject must not contain the code".into());
            }
        }
        Ok(())
    }
}

fn without_sections(template: &str) -> String {
    let mut text = template.to_owned();
    while let Some(start) = text.find(SECTION_OPEN) {
        let Some(len) = text[start..].find(SECTION_CLOSE) else { break };
        text.replace_range(start..start + len + SECTION_CLOSE.len(), "");
    }
    text
}

fn check_tags(template: &str) -> Result<(), String> {
    let mut rest = template;
    let mut open_section = false;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("a {{ is not closed")?;
        let tag = &after[..end];
        match tag {
            "#transaction" if !open_section => open_section = true,
            "/transaction" if open_section => open_section = false,
            "#transaction" | "/transaction" => return Err("{{#transaction}} sections do not nest or balance".into()),
            name if PLACEHOLDERS.contains(&name) => {}
            other => {
                return Err(format!(
                    "unknown placeholder {{{{{other}}}}}; known: {}",
                    PLACEHOLDERS.map(|p| format!("{{{{{p}}}}}")).join(", ")
                ))
            }
        }
        rest = &after[end + 2..];
    }
    if open_section {
        return Err("a {{#transaction}} section is not closed".into());
    }
    Ok(())
}

/// What a message is about, for its template.
pub struct MessageFacts<'a> {
    pub app_name: &'a str,
    pub code: &'a str,
    pub ttl_seconds: u32,
    pub transaction: Option<&'a Transaction>,
    pub language: Language,
    /// The host of the client's first allowed origin, for the SMS's WebOTP line.
    pub webotp_origin: Option<&'a str>,
}

pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn built_in(language: Language) -> Templates {
    let (sms, subject, text, html) = match language {
        Language::PtBr => (
            "{{appName}}: seu código de verificação é {{code}}{{#transaction}}, para {{transaction}}{{/transaction}}. \
             Vale por {{minutes}} min. Não compartilhe com ninguém.",
            "{{appName}}: seu código de verificação",
            "Olá,\n\nSeu código de verificação do {{appName}} é {{code}}.\n{{#transaction}}Ele confirma: \
             {{transaction}}.\n{{/transaction}}O código vale por {{minutes}} minuto(s).\n\nNunca compartilhe este \
             código com ninguém, nem com quem diga falar em nome do {{appName}}. Se não foi você, ignore esta \
             mensagem.",
            EMAIL_HTML_PT,
        ),
        Language::En => (
            "{{appName}}: your verification code is {{code}}{{#transaction}}, for a {{transaction}}{{/transaction}}. \
             It expires in {{minutes}} minute(s). Never share it with anyone.",
            "{{appName}}: your verification code",
            "Hello,\n\nYour {{appName}} verification code is {{code}}.\n{{#transaction}}It approves: \
             {{transaction}}.\n{{/transaction}}The code expires in {{minutes}} minute(s).\n\nNever share this code \
             with anyone, not even someone who says they work for {{appName}}. If this was not you, ignore this \
             message.",
            EMAIL_HTML_EN,
        ),
    };
    Templates {
        sms: Some(sms.into()),
        email_subject: Some(subject.into()),
        email_text: Some(text.into()),
        email_html: Some(html.into()),
    }
}

const EMAIL_HTML_PT: &str = r#"<!doctype html><html lang="pt-BR"><body style="font-family:Arial,sans-serif;color:#1b1b1b">
<p>Olá,</p><p>Seu código de verificação do {{appName}} é:</p>
<p style="font-size:28px;font-weight:bold;letter-spacing:4px">{{code}}</p>
{{#transaction}}<p>Ele confirma: <strong>{{transaction}}</strong>.</p>{{/transaction}}
<p>O código vale por {{minutes}} minuto(s).</p>
<p style="color:#555">Nunca compartilhe este código com ninguém, nem com quem diga falar em nome do {{appName}}. Se não foi você, ignore esta mensagem.</p>
</body></html>"#;

const EMAIL_HTML_EN: &str = r#"<!doctype html><html lang="en"><body style="font-family:Arial,sans-serif;color:#1b1b1b">
<p>Hello,</p><p>Your {{appName}} verification code is:</p>
<p style="font-size:28px;font-weight:bold;letter-spacing:4px">{{code}}</p>
{{#transaction}}<p>It approves: <strong>{{transaction}}</strong>.</p>{{/transaction}}
<p>The code expires in {{minutes}} minute(s).</p>
<p style="color:#555">Never share this code with anyone, not even someone who says they work for {{appName}}. If this was not you, ignore this message.</p>
</body></html>"#;

#[derive(Clone, Copy, PartialEq)]
enum Channel {
    Sms,
    Text,
    Html,
}

fn render(template: &str, facts: &MessageFacts<'_>, channel: Channel) -> String {
    let transaction = facts.transaction.and_then(|t| t.summary_in(facts.language));
    let mut text = template.to_owned();
    // Sections first: kept (without their tags) when there is a transaction, dropped otherwise.
    while let Some(start) = text.find(SECTION_OPEN) {
        let Some(len) = text[start..].find(SECTION_CLOSE) else { break };
        let inner = text[start + SECTION_OPEN.len()..start + len].to_owned();
        let kept = if transaction.is_some() { inner } else { String::new() };
        text.replace_range(start..start + len + SECTION_CLOSE.len(), &kept);
    }
    let escape = |v: &str| match channel {
        Channel::Html => escape_html(v),
        // A payee or a display name holding "@site #123" would read as a WebOTP line for that site:
        // '@' in a value becomes the fullwidth '＠', which no parser takes for one.
        Channel::Sms => v.replace('@', "\u{FF20}"),
        Channel::Text => v.to_owned(),
    };
    let minutes = facts.ttl_seconds.div_ceil(60).to_string();
    // One pass, so that a value (a payee's name) holding "{{code}}" is never expanded.
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        match &after[..end] {
            "appName" => out.push_str(&escape(facts.app_name)),
            "code" => out.push_str(facts.code),
            "minutes" => out.push_str(&minutes),
            "transaction" => out.push_str(&escape(transaction.as_deref().unwrap_or_default())),
            other => out.push_str(&format!("{{{{{other}}}}}")),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn escape_html(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The SMS: the template, then the WebOTP line (`@host #code`, the format browsers read) when the
/// client allows a browser origin.
pub fn sms(templates: Option<&Templates>, facts: &MessageFacts<'_>) -> String {
    let fallback = built_in(facts.language);
    let template = templates.and_then(|t| t.sms.as_deref()).or(fallback.sms.as_deref()).unwrap_or_default();
    let mut text = render(template, facts, Channel::Sms);
    if let Some(origin) = facts.webotp_origin {
        text.push_str(&format!("\n\n@{origin} #{}", facts.code));
    }
    text
}

pub fn email(templates: Option<&Templates>, facts: &MessageFacts<'_>) -> Email {
    let fallback = built_in(facts.language);
    let pick = |own: Option<&String>, default: &Option<String>| {
        own.map(String::as_str).or(default.as_deref()).unwrap_or_default().to_owned()
    };
    let own = templates.cloned().unwrap_or_default();
    Email {
        subject: render(&pick(own.email_subject.as_ref(), &fallback.email_subject), facts, Channel::Text),
        text: render(&pick(own.email_text.as_ref(), &fallback.email_text), facts, Channel::Text),
        html: render(&pick(own.email_html.as_ref(), &fallback.email_html), facts, Channel::Html),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(language: Language, transaction: Option<&'a Transaction>) -> MessageFacts<'a> {
        MessageFacts {
            app_name: "Banco <Exemplo>",
            code: "123456",
            ttl_seconds: 300,
            transaction,
            language,
            webotp_origin: Some("app.example.com"),
        }
    }

    #[test]
    fn the_sms_speaks_the_client_s_language_states_the_transfer_and_ends_with_the_webotp_line() {
        let pix =
            Transaction::parse(serde_json::json!({"type": "Pix", "amount": 150, "currency": "BRL", "payee": "João"}))
                .unwrap();
        assert_eq!(
            sms(None, &facts(Language::PtBr, Some(&pix))),
            "Banco <Exemplo>: seu código de verificação é 123456, para Pix de R$ 150,00 para João. Vale por 5 min. \
             Não compartilhe com ninguém.\n\n@app.example.com #123456"
        );
        let mut plain = facts(Language::En, None);
        plain.webotp_origin = None;
        assert_eq!(
            sms(None, &plain),
            "Banco <Exemplo>: your verification code is 123456. It expires in 5 minute(s). Never share it with anyone."
        );
    }

    #[test]
    fn a_tenant_template_replaces_ours_and_html_values_are_escaped() {
        let own = Templates {
            sms: Some("{{code}} é o seu código {{appName}}{{#transaction}} ({{transaction}}){{/transaction}}".into()),
            ..Templates::default()
        };
        own.validate().unwrap();
        let text = sms(Some(&own), &facts(Language::PtBr, None));
        assert_eq!(text, "123456 é o seu código Banco <Exemplo>\n\n@app.example.com #123456");
        let mail = email(Some(&own), &facts(Language::En, None));
        assert!(mail.html.contains("Banco &lt;Exemplo&gt;") && !mail.html.contains("<Exemplo>"), "{}", mail.html);
        assert!(mail.text.contains("123456") && mail.subject == "Banco <Exemplo>: your verification code");
    }

    #[test]
    fn a_payee_named_like_a_placeholder_is_not_expanded() {
        let odd = Transaction::parse(serde_json::json!({"amount": 1, "currency": "BRL", "payee": "{{code}}"})).unwrap();
        let text = sms(None, &facts(Language::En, Some(&odd)));
        assert_eq!(text.matches("123456").count(), 2, "the code and the WebOTP line only: {text}");
    }

    #[test]
    fn a_payee_cannot_forge_a_webotp_line_for_another_site() {
        let odd =
            Transaction::parse(serde_json::json!({"amount": 1, "currency": "BRL", "payee": "Joao @evil.example #1"}))
                .unwrap();
        let text = sms(None, &facts(Language::En, Some(&odd)));
        assert!(!text.contains("@evil"), "{text}");
        assert!(text.ends_with("\n\n@app.example.com #123456"));
    }

    #[test]
    fn multi_line_templates_are_accepted_and_the_code_must_not_hide_in_a_section() {
        let lines = Templates { email_text: Some("Olá,\r\n\tseu código: {{code}}\n".into()), ..Default::default() };
        assert!(lines.validate().is_ok());
        let hidden = Templates { sms: Some("{{#transaction}}{{code}}{{/transaction}}".into()), ..Default::default() };
        assert!(hidden.validate().is_err());
    }

    #[test]
    fn templates_without_the_code_or_with_unknown_placeholders_are_refused() {
        let cases = [
            Templates { sms: Some("hello".into()), ..Default::default() },
            Templates { sms: Some("{{code}} {{name}}".into()), ..Default::default() },
            Templates { email_html: Some("{{code}} {{#transaction}}".into()), ..Default::default() },
            Templates { email_subject: Some("code {{code}}".into()), ..Default::default() },
            Templates { sms: Some(format!("{{{{code}}}}{}", "x".repeat(400))), ..Default::default() },
        ];
        for t in cases {
            assert!(t.validate().is_err(), "{t:?}");
        }
        assert!(Templates::default().validate().is_ok());
    }
}
