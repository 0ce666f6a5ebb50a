//! Callbacks (webhooks): where they may go, and the worker that delivers the outbox.

pub mod destination;

/// reqwest is built with rustls but no default crypto provider (aws-lc's build is slow on small
/// machines): every process that builds an HTTP client installs ring first. Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
pub mod worker;
