//! Durable state behind a small trait: an append-only journal of accepted inputs plus snapshots.
//!
//! The [`Driver`](crate::Driver) appends every input the [`Operation`](crate::operation::Operation)
//! accepted, as a [`JournalRecord`], *before* it delivers the outputs; every so often it saves an
//! [`OperationState`] snapshot (every engine: router, workflows, conversations, ledger) and the
//! store may drop the records the snapshot covers (compaction).
//! On start it loads the newest snapshot and the records after it and replays them.
//!
//! Records are versioned ([`JOURNAL_VERSION`]) and checksummed ([`JournalRecord::encode`]): a
//! store reports a damaged *last* record as [`DamagedRecord`] (the state before it is recovered)
//! and refuses damage anywhere else.

use crate::Time;
use crate::operation::{Input, OperationState};
use serde::{Deserialize, Serialize};

/// Version of the journal record schema ([`JournalRecord`] and the [`Input`] it carries).
/// Version 2: records carry the composed operation's inputs (version 1 carried router events).
pub const JOURNAL_VERSION: u32 = 2;

/// One accepted input: the journal's unit.
///
/// # Example
/// ```
/// use switchboard::{JournalRecord, Event, Time};
/// let rec = JournalRecord { seq: 7, at: Time::from_secs(3), input: Event::Tick.into() };
/// let bytes = rec.encode();
/// assert_eq!(JournalRecord::decode(&bytes).unwrap(), rec);
/// let mut bad = bytes.clone();
/// *bad.last_mut().unwrap() ^= 1;
/// assert!(JournalRecord::decode(&bad).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// Position in the journal, from 1, without gaps.
    pub seq: u64,
    /// The time the input was applied at.
    pub at: Time,
    /// The input.
    pub input: Input,
}

/// Why a stored record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Shorter than its header says.
    #[error("record truncated: {0} bytes")]
    Truncated(usize),
    /// Checksum mismatch.
    #[error("record checksum mismatch")]
    Checksum,
    /// Written by an incompatible schema version.
    #[error("record schema version {found}, this build reads {expected}")]
    Version {
        /// Version found.
        found: u32,
        /// Version understood.
        expected: u32,
    },
    /// The payload does not parse.
    #[error("record payload unreadable: {0}")]
    Payload(String),
}

impl JournalRecord {
    /// Encodes as `version (u32 LE) | crc32 of payload (u32 LE) | payload length (u32 LE) | JSON payload`.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain data to a Vec cannot fail.
        let payload = serde_json::to_vec(self).unwrap_or_default();
        let mut out = Vec::with_capacity(payload.len() + 12);
        out.extend_from_slice(&JOURNAL_VERSION.to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(
            &u32::try_from(payload.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        out.extend_from_slice(&payload);
        out
    }

    /// Decodes and verifies bytes written by [`JournalRecord::encode`].
    ///
    /// # Errors
    /// [`RecordError`] for short, corrupt, foreign-version or unparsable input.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let word = |i: usize| -> Result<u32, RecordError> {
            bytes
                .get(i..i + 4)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .map(u32::from_le_bytes)
                .ok_or(RecordError::Truncated(bytes.len()))
        };
        let version = word(0)?;
        if version != JOURNAL_VERSION {
            return Err(RecordError::Version {
                found: version,
                expected: JOURNAL_VERSION,
            });
        }
        let crc = word(4)?;
        let len = word(8)? as usize;
        let payload = bytes
            .get(12..12 + len)
            .filter(|_| bytes.len() == 12 + len)
            .ok_or(RecordError::Truncated(bytes.len()))?;
        if crc32fast::hash(payload) != crc {
            return Err(RecordError::Checksum);
        }
        serde_json::from_slice(payload).map_err(|e| RecordError::Payload(e.to_string()))
    }
}

/// A record that could not be read at the end of the journal; the state before it was recovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRecord {
    /// Its position.
    pub seq: u64,
    /// What was wrong.
    pub error: RecordError,
}

/// What a store hands back on start.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The newest snapshot and the last journal position it covers.
    pub snapshot: Option<(u64, OperationState)>,
    /// Every readable record after the snapshot, in order.
    pub records: Vec<JournalRecord>,
    /// A damaged record at the very end, skipped.
    pub damaged_tail: Option<DamagedRecord>,
}

/// Durable storage for the journal and snapshots.
///
/// # Contract (to ensure correctness)
/// * `append` is **atomic and durable**: when it returns `Ok`, all records of the call survive a
///   crash; when it fails or the process dies during it, none or all of them do — never a prefix
///   with a gap. Records arrive with consecutive `seq`s.
/// * `save_snapshot(through, state)` stores a state equal to replaying records `1..=through`; it
///   must be durable before it returns, and may then delete records `≤ through`.
/// * `load` returns the newest snapshot and every record after it in `seq` order. A record that
///   fails to decode *at the end* is reported in [`Loaded::damaged_tail`] and removed or set aside,
///   so that the next `append` continues at its position; damage anywhere else is an error. A
///   journal or snapshot of another schema version is an error.
/// * Implementations are used from one thread at a time (one writer per partition).
///
/// The tests in `tests/driver.rs` show the behaviour the driver relies on.
pub trait Storage {
    /// Storage failure.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Durably appends records.
    ///
    /// # Errors
    /// When the records could not be made durable.
    fn append(&mut self, records: &[JournalRecord]) -> Result<(), Self::Error>;
    /// Durably saves a snapshot covering records `..= through`.
    ///
    /// # Errors
    /// When the snapshot could not be made durable.
    fn save_snapshot(&mut self, through: u64, state: &OperationState) -> Result<(), Self::Error>;
    /// Loads the newest snapshot and the records after it.
    ///
    /// # Errors
    /// On I/O failure, damage before the last record, or an incompatible version.
    fn load(&mut self) -> Result<Loaded, Self::Error>;
}

/// Errors of [`MemoryStorage`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryStorageError {
    /// A record arrived out of sequence.
    #[error("record {got} appended after {last}")]
    OutOfSequence {
        /// Last stored seq.
        last: u64,
        /// Seq received.
        got: u64,
    },
    /// A stored record is damaged before the end of the journal.
    #[error("journal damaged at record {seq}: {error}")]
    Damaged {
        /// Where.
        seq: u64,
        /// What.
        error: RecordError,
    },
}

/// An in-memory store keeping encoded records (so damage can be simulated in tests). Not durable.
///
/// # Example
/// ```
/// use switchboard::{MemoryStorage, Storage, JournalRecord, Event, Time};
/// let mut s = MemoryStorage::default();
/// s.append(&[JournalRecord { seq: 1, at: Time::ZERO, input: Event::Tick.into() }]).unwrap();
/// assert_eq!(s.load().unwrap().records.len(), 1);
/// ```
#[derive(Debug, Default, Clone)]
pub struct MemoryStorage {
    /// Encoded records after the snapshot: (seq, bytes).
    pub records: Vec<(u64, Vec<u8>)>,
    /// The snapshot, if any.
    pub snapshot: Option<(u64, OperationState)>,
    /// Whether compaction drops covered records.
    pub compact: bool,
}

impl Storage for MemoryStorage {
    type Error = MemoryStorageError;
    fn append(&mut self, records: &[JournalRecord]) -> Result<(), Self::Error> {
        let mut last = self
            .records
            .last()
            .map(|r| r.0)
            .or(self.snapshot.as_ref().map(|s| s.0))
            .unwrap_or(0);
        for r in records {
            if r.seq != last + 1 {
                return Err(MemoryStorageError::OutOfSequence { last, got: r.seq });
            }
            last = r.seq;
        }
        self.records
            .extend(records.iter().map(|r| (r.seq, r.encode())));
        Ok(())
    }
    fn save_snapshot(&mut self, through: u64, state: &OperationState) -> Result<(), Self::Error> {
        self.snapshot = Some((through, state.clone()));
        if self.compact {
            self.records.retain(|r| r.0 > through);
        }
        Ok(())
    }
    fn load(&mut self) -> Result<Loaded, Self::Error> {
        let from = self.snapshot.as_ref().map_or(0, |s| s.0);
        let mut out = Loaded {
            snapshot: self.snapshot.clone(),
            ..Loaded::default()
        };
        let tail: Vec<_> = self.records.iter().filter(|r| r.0 > from).collect();
        for (i, (seq, bytes)) in tail.iter().enumerate() {
            match JournalRecord::decode(bytes) {
                Ok(r) => out.records.push(r),
                Err(error)
                    if i + 1 == tail.len() && !matches!(error, RecordError::Version { .. }) =>
                {
                    out.damaged_tail = Some(DamagedRecord { seq: *seq, error });
                }
                Err(error) => return Err(MemoryStorageError::Damaged { seq: *seq, error }),
            }
        }
        // Drop the damaged last record so the journal continues at its position.
        if let Some(d) = &out.damaged_tail {
            self.records.retain(|r| r.0 != d.seq);
        }
        Ok(out)
    }
}
