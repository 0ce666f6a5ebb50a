//! The SQL behind each store operation, as plain functions of a connection.
//!
//! Write functions run on the writer thread inside a group transaction (in their own savepoint);
//! read functions run on a pooled read-only connection. Nothing here knows which: that split is
//! made in `lib.rs`.

pub(crate) mod accounts;
pub(crate) mod events;
pub(crate) mod purge;
pub(crate) mod rooms;
