//! Delivering effects to agents, bots and the rest of the host.

use crate::Effect;
use std::sync::mpsc;

/// Carries the router's effects out of the process: offers to agents' desktops, rescinds,
/// notifications, analytics.
///
/// # Contract
/// * Called only after the event that produced the effects is durable (persist before act).
/// * Effects of one event are delivered in order.
/// * After a restart the [`Driver`](crate::Driver) delivers every still-outstanding
///   [`Effect::Offer`] again: implementations must treat offers as idempotent by offer id.
/// * An `Err` for an [`Effect::Offer`] means the agent could not be reached; the driver rejects
///   that offer on the agent's behalf (journaled) so the task moves on. Errors for other effects
///   are reported to the caller and otherwise ignored.
pub trait Transport {
    /// Why a delivery failed.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Delivers one effect.
    ///
    /// # Errors
    /// When the effect could not be delivered.
    fn deliver(&mut self, effect: &Effect) -> Result<(), Self::Error>;
}

/// Collects effects in memory (tests, demos).
///
/// # Example
/// ```
/// use switchboard::{Transport, VecTransport, Effect, TaskId};
/// let mut t = VecTransport::default();
/// t.deliver(&Effect::Cancelled { task: TaskId(1) }).unwrap();
/// assert_eq!(t.delivered.len(), 1);
/// ```
#[derive(Debug, Default, Clone)]
pub struct VecTransport {
    /// Everything delivered so far.
    pub delivered: Vec<Effect>,
}

impl Transport for VecTransport {
    type Error = std::convert::Infallible;
    fn deliver(&mut self, effect: &Effect) -> Result<(), Self::Error> {
        self.delivered.push(effect.clone());
        Ok(())
    }
}

/// Sends effects down a standard channel to another thread (e.g. a websocket fan-out task).
///
/// # Example
/// ```
/// use switchboard::{Transport, ChannelTransport, Effect, TaskId};
/// let (mut t, rx) = ChannelTransport::new();
/// t.deliver(&Effect::Abandoned { task: TaskId(3) }).unwrap();
/// assert_eq!(rx.recv().unwrap(), Effect::Abandoned { task: TaskId(3) });
/// ```
#[derive(Debug, Clone)]
pub struct ChannelTransport {
    tx: mpsc::Sender<Effect>,
}

/// The receiving end of a [`ChannelTransport`] hung up.
#[derive(Debug, thiserror::Error)]
#[error("transport channel closed")]
pub struct ChannelClosed;

impl ChannelTransport {
    /// A transport and the receiver its effects arrive on.
    #[must_use]
    pub fn new() -> (Self, mpsc::Receiver<Effect>) {
        let (tx, rx) = mpsc::channel();
        (ChannelTransport { tx }, rx)
    }
}

impl Transport for ChannelTransport {
    type Error = ChannelClosed;
    fn deliver(&mut self, effect: &Effect) -> Result<(), Self::Error> {
        self.tx.send(effect.clone()).map_err(|_| ChannelClosed)
    }
}
