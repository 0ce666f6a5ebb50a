//! Callbacks (webhooks): where they may go, and the worker that delivers the outbox.

pub mod destination;
pub mod worker;

pub use crate::tls::install_tls_provider;
