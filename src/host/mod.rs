//! Host integration: what a service wraps around the pure router — the [`driver`] (journal
//! before delivery, snapshots, recovery), [`storage`] and its SQLite implementation, the
//! [`transport`] that delivers effects and the [`clock`].
//!
//! Every module here is also re-exported at the crate root (`switchboard::driver`,
//! `switchboard::storage`, …).

pub mod clock;
pub mod driver;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod storage;
pub mod transport;
