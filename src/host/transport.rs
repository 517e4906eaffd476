//! Delivering outputs to agents, customers, bots and the rest of the host.

use crate::Effect;
use crate::operation::Output;
use std::sync::mpsc;

/// Carries the operation's [`Output`]s out of the process: offers to agents' desktops,
/// rescinds, notices and masked replies to customers, hand-over packets, call-backs, tickets,
/// capacity requests, analytics.
///
/// # Contract
/// * Called only after the input that produced the outputs is durable (persist before act).
/// * Outputs of one input are delivered in order.
/// * After a restart the [`Driver`](crate::Driver) delivers every still-outstanding
///   [`Effect::Offer`] again: implementations must treat offers as idempotent by offer id.
/// * An `Err` for an offer means the agent could not be reached; the driver rejects that offer
///   on the agent's behalf (journaled) so the task moves on. Errors for other outputs are
///   reported to the caller and otherwise ignored.
pub trait Transport {
    /// Why a delivery failed.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Delivers one output.
    ///
    /// # Errors
    /// When the output could not be delivered.
    fn deliver(&mut self, output: &Output) -> Result<(), Self::Error>;
}

/// Collects outputs in memory (tests, demos).
///
/// # Example
/// ```
/// use switchboard::{Transport, VecTransport, Effect, TaskId};
/// let mut t = VecTransport::default();
/// t.deliver(&Effect::Cancelled { task: TaskId(1) }.into()).unwrap();
/// assert_eq!(t.effects().count(), 1);
/// ```
#[derive(Debug, Default, Clone)]
pub struct VecTransport {
    /// Everything delivered so far.
    pub delivered: Vec<Output>,
}

impl VecTransport {
    /// The router effects among the delivered outputs, in order.
    pub fn effects(&self) -> impl Iterator<Item = &Effect> + '_ {
        self.delivered.iter().filter_map(Output::as_router)
    }
}

impl Transport for VecTransport {
    type Error = std::convert::Infallible;
    fn deliver(&mut self, output: &Output) -> Result<(), Self::Error> {
        self.delivered.push(output.clone());
        Ok(())
    }
}

/// Sends outputs down a standard channel to another thread (e.g. a websocket fan-out task).
///
/// # Example
/// ```
/// use switchboard::{Transport, ChannelTransport, Effect, TaskId};
/// let (mut t, rx) = ChannelTransport::new();
/// t.deliver(&Effect::Abandoned { task: TaskId(3) }.into()).unwrap();
/// assert_eq!(rx.recv().unwrap().as_router(), Some(&Effect::Abandoned { task: TaskId(3) }));
/// ```
#[derive(Debug, Clone)]
pub struct ChannelTransport {
    tx: mpsc::Sender<Output>,
}

/// The receiving end of a [`ChannelTransport`] hung up.
#[derive(Debug, thiserror::Error)]
#[error("transport channel closed")]
pub struct ChannelClosed;

impl ChannelTransport {
    /// A transport and the receiver its outputs arrive on.
    #[must_use]
    pub fn new() -> (Self, mpsc::Receiver<Output>) {
        let (tx, rx) = mpsc::channel();
        (ChannelTransport { tx }, rx)
    }
}

impl Transport for ChannelTransport {
    type Error = ChannelClosed;
    fn deliver(&mut self, output: &Output) -> Result<(), Self::Error> {
        self.tx.send(output.clone()).map_err(|_| ChannelClosed)
    }
}
