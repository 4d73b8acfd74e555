//! The iocd HTTP server: an MDE-compatible Indicators API over the service layer
//! ([`iocd_service::Service`]).
//!
//! [`router`] builds the whole HTTP surface as a plain axum `Router`, so tests drive it without
//! a socket; [`serve`] binds it, runs the expiry sweeper and shuts down gracefully. Handlers
//! stay thin: parse, check the caller, call the service on a blocking thread, answer with a
//! type of the [`wire`] model. The crate does not know which storage backend it runs on.

mod alerts_api;
pub mod auth;
mod body_timeout;
mod bulk;
pub mod config;
pub mod console;
mod convert;
pub mod delivery;
mod device_groups_api;
mod devices_api;
pub mod error;
mod events_api;
pub mod events_bus;
mod extract;
pub mod feeds;
pub mod follower;
mod indicators;
mod match_api;
pub mod metrics;
mod odata;
mod openapi;
pub mod rate_limit;
mod router;
mod serve;
mod state;
pub mod taxii;
pub mod tls;
mod token_endpoint;
mod webhooks_api;
pub mod wire;

pub use openapi::openapi_document;
pub use router::router;
pub use serve::{run_sweeper, serve, serve_until};
pub use state::{AppState, StartError};
