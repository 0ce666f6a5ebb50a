//! roomlog's HTTP service.
//!
//! - [`startup`]: `run(listener, state, shutdown)`, the entry point (graceful shutdown included).
//! - [`dispatch`]: one path `/`; parses and verifies the Tencent Cloud request, applies the rate
//!   limit, decodes typed parameters and calls the action; [`reply`] turns what the action
//!   answers into the 200 JSON envelope.
//! - [`actions`]: one thin handler per action, over `roomlog_core` rules, the [`service`] (every
//!   write) and the [`Store`] (reads).
//! - [`service`]: the use cases the actions and the background jobs share; each write wakes
//!   whoever waits for what it changed ([`AppState::wake`]).
//! - [`scheduler`], [`purge`], [`attendance`]: the background jobs (room deadlines, retention,
//!   attendance); [`callbacks`]: where callbacks may go and the worker that delivers them.
//! - [`gateway`]: the live classroom gateway (`GET /classroom/ws`), a WebSocket per classroom
//!   client (docs/gateway.md).
//! - [`page_cache`]: GetRoomEvent pages kept rendered in memory (bounded).
//!
//! [`Store`]: roomlog_core::Store

pub mod actions;
pub mod attendance;
pub mod bootstrap;
pub mod cache;
pub mod callbacks;
pub mod config;
pub mod dispatch;
pub mod feed;
pub mod gateway;
pub mod jobs;
pub mod listener;
pub mod metrics;
pub mod page_cache;
pub mod purge;
pub mod ratelimit;
pub mod replay;
pub mod reply;
pub mod scheduler;
pub mod service;
pub mod startup;
pub mod state;
pub mod tls;

pub use config::ServeConfig;
pub use dispatch::API_VERSION;
pub use startup::run;
pub use state::AppState;
