//! Planning: what happens around the router over a day — the [`ledger`] of conversations and
//! their outcomes, [`staffing`] (Erlang C plans, verified by simulation) and the discrete-event
//! simulator (`sim`, with the `sim` feature).
//!
//! Every module here is also re-exported at the crate root (`switchboard::ledger`,
//! `switchboard::sim`, `switchboard::staffing`).

pub mod ledger;
#[cfg(feature = "sim")]
pub mod sim;
pub mod staffing;
