//! The smartauth server: HTTP API, token handling, delivery and the operator's command line.

pub mod attempt;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod clients;
pub mod configuration;
pub mod cors;
pub mod crypto;
pub mod deadline;
pub mod delivery;
pub mod error;
pub mod extract;
pub mod faces;
pub mod fetch;
#[doc(hidden)]
pub mod fuzzing;
pub mod geocoder;
pub mod limits;
pub mod media;
pub mod ops;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod tls;
pub mod transaction;
pub mod webhooks;
