//! Getting codes to people: email over SMTP and SMS through an HTTP gateway, with the messages of
//! `messages`.

pub mod email;
pub mod messages;
pub mod sms;
