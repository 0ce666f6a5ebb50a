//! TLS for every client and listener of the process.

/// reqwest is built with rustls but no default crypto provider (aws-lc's build is slow on small
/// machines): every process that builds an HTTP client installs ring first. Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
