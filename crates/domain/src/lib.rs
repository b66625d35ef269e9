//! The domain of smartauth: values that cannot be invalid once parsed, tenant policies, and the
//! decision engine. Nothing here performs I/O, so every rule can be tested exhaustively.

pub mod contact;
pub mod context;
pub mod decision;
pub mod geo;
pub mod ids;
pub mod lockout;
pub mod otp;
pub mod person;
pub mod policy;
pub mod replay;
pub mod text;
pub mod time;

pub use contact::{Email, Phone};
pub use context::{AttemptContext, Coordinates, DeviceInput, NetworkFacts};
pub use decision::{decide, ContextVerdict, Decision, DecisionInput, History, KnownDeviceKey, Status};
pub use ids::Id;
pub use otp::OtpCode;
pub use person::PersonId;
pub use policy::{Method, Policy, PolicyError};
