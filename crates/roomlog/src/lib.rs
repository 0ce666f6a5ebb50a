//! The `roomlog` binary's pieces: the command line ([`cli`]) and a signing API [`client`] that
//! `roomlog call`, `roomlog simulate`, the end-to-end tests and the benchmarks share.

pub mod cli;
pub mod client;
