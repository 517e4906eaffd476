//! Media channels and per-channel capacity.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The medium a task arrives on. Capacity is counted per channel.
///
/// # Example
/// ```
/// use switchboard::Channel;
/// assert_eq!(Channel::Chat.to_string(), "chat");
/// assert_eq!(Channel::ALL.len(), Channel::COUNT);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Phone call.
    Voice,
    /// Live chat / instant messaging.
    Chat,
    /// E-mail.
    Email,
    /// Asynchronous ticket or work item.
    Ticket,
    /// Social-media message.
    Social,
    /// Video call.
    Video,
    /// Scheduled call back to the customer.
    Callback,
    /// Proactive outreach (pre-sale).
    Outreach,
}

impl Channel {
    /// Number of channels.
    pub const COUNT: usize = 8;
    /// Every channel, in index order.
    pub const ALL: [Channel; Channel::COUNT] = [
        Channel::Voice,
        Channel::Chat,
        Channel::Email,
        Channel::Ticket,
        Channel::Social,
        Channel::Video,
        Channel::Callback,
        Channel::Outreach,
    ];

    /// Dense index `0..COUNT`.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Lower-case name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Channel::Voice => "voice",
            Channel::Chat => "chat",
            Channel::Email => "email",
            Channel::Ticket => "ticket",
            Channel::Social => "social",
            Channel::Video => "video",
            Channel::Callback => "callback",
            Channel::Outreach => "outreach",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How many tasks an agent can hold at once on each channel (0 = does not serve the channel).
///
/// Offers, tasks in service and tasks in wrap-up all count against it.
///
/// # Example
/// ```
/// use switchboard::{Capacity, Channel};
/// let cap = Capacity::default().with(Channel::Voice, 1).with(Channel::Chat, 5);
/// assert_eq!(cap.get(Channel::Chat), 5);
/// assert_eq!(cap.get(Channel::Email), 0);
/// assert!(!cap.is_zero());
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Capacity(pub [u16; Channel::COUNT]);

impl Capacity {
    /// This capacity with `channel` set to `n`.
    #[must_use]
    pub const fn with(mut self, channel: Channel, n: u16) -> Self {
        self.0[channel.index()] = n;
        self
    }
    /// Capacity on `channel`.
    #[must_use]
    pub const fn get(&self, channel: Channel) -> u16 {
        self.0[channel.index()]
    }
    /// Whether every channel has capacity 0.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|&c| c == 0)
    }
}
