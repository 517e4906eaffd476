//! Routing: the pure, deterministic state machine that decides who serves which task, and in
//! what order — the domain types it routes ([`agent`], [`task`], [`skill`], [`tag`], [`tenant`],
//! interned by [`catalog`]), its queues and offers, the selection strategies and scoring, the
//! [`Router`](router::Router) itself with its inputs and outputs ([`event`]), explanations and
//! the batch assignment solvers.
//!
//! Every module here is also re-exported at the crate root (`switchboard::agent`,
//! `switchboard::router`, …).

pub mod agent;
pub mod assignment;
pub mod catalog;
pub mod channel;
pub mod config;
pub mod error;
pub mod event;
pub mod explain;
pub mod offer;
pub mod queue;
pub mod rng;
pub mod router;
pub mod skill;
pub mod strategy;
pub mod tag;
pub mod task;
pub mod tenant;
pub mod time;
