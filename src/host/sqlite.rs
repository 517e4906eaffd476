//! A durable embedded [`Storage`] on SQLite (feature `sqlite`, on by default).
//!
//! [`SqliteStorage`] keeps the journal and the newest snapshot in one SQLite file, through
//! [rusqlite](https://docs.rs/rusqlite) with its bundled SQLite, so nothing needs installing.
//!
//! * **WAL mode**, `synchronous = FULL` by default: when [`Storage::append`] returns, the records
//!   are on disk and survive a process crash *and* a power cut. [`Synchronous::Normal`] keeps
//!   them across a process crash but may lose the last commits on a power cut, for several
//!   times the throughput (see `docs/PERFORMANCE.md`).
//! * **One transaction per call**: a batch of events submitted to the
//!   [`Driver`](crate::Driver) together is one commit — all or nothing, never a prefix.
//! * **Compaction**: [`Storage::save_snapshot`] writes the snapshot and deletes the journal rows
//!   it covers in the same transaction, so start-up time stays bounded. Set
//!   [`SqliteOptions::retain_journal`] to keep them (audits; tests that compare the recovered
//!   state with a replay of the whole journal).
//! * **Versioned and checksummed**: the file records the layout, [`JOURNAL_VERSION`] and
//!   [`OPERATION_STATE_VERSION`](crate::operation::OPERATION_STATE_VERSION) it was written with and is refused by a build that reads other versions
//!   ([`SqliteError::Version`]). Journal rows are [`JournalRecord::encode`]d (version + CRC);
//!   snapshots carry a CRC too.
//!
//! # Tables
//!
//! | table | columns | content |
//! |---|---|---|
//! | `meta` | `key TEXT PRIMARY KEY, value INTEGER` | `layout`, `journal_version`, `state_version` |
//! | `journal` | `seq INTEGER PRIMARY KEY, bytes BLOB` | [`JournalRecord::encode`] of each accepted event |
//! | `snapshot` | `through INTEGER PRIMARY KEY, version, crc, bytes BLOB` | the newest [`OperationState`] as JSON, with its CRC-32 |
//! | `damaged` | `seq, bytes, error, found_at` | damaged last records set aside by [`Storage::load`] |
//!
//! # Example
//! ```
//! use switchboard::*;
//! let dir = std::env::temp_dir().join(format!("switchboard-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("module.db");
//! # let _ = std::fs::remove_file(&path);
//! let clock = ManualClock::new(Time::from_secs(10));
//! let storage = SqliteStorage::open(&path)?;
//! let (mut driver, _) = Driver::open(RouterConfig::default(), DefaultScoring, storage,
//!     VecTransport::default(), clock.clone(), DriverOptions::default())?;
//! let brand = driver.intern_tenant("acme")?;
//! driver.submit(vec![Event::Arrive(TaskSpec::new(TaskId(1), brand, Channel::Chat))])?;
//! drop(driver); // "crash"
//!
//! let (driver, report) = Driver::open(RouterConfig::default(), DefaultScoring,
//!     SqliteStorage::open(&path)?, VecTransport::default(), clock, DriverOptions::default())?;
//! assert_eq!(report.replayed, 1);
//! assert_eq!(driver.router().task_state(TaskId(1)), Some(TaskState::Waiting));
//! # drop(driver);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::operation::{OPERATION_STATE_VERSION as STATE_VERSION, OperationState};
use crate::storage::{DamagedRecord, Loaded, RecordError};
use crate::{JOURNAL_VERSION, JournalRecord, Storage};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Version of the SQL layout (tables and columns) written by [`SqliteStorage`].
///
/// # Example
/// ```
/// assert_eq!(switchboard::sqlite::SQLITE_LAYOUT_VERSION, 1);
/// ```
pub const SQLITE_LAYOUT_VERSION: u32 = 1;

/// `PRAGMA application_id` of a switchboard database ("SWBD"), so that another application's
/// SQLite file is refused instead of written to.
///
/// # Example
/// ```
/// assert_eq!(switchboard::sqlite::SQLITE_APPLICATION_ID.to_be_bytes(), *b"SWBD");
/// ```
pub const SQLITE_APPLICATION_ID: i32 = 0x5357_4244;

/// How hard SQLite works to make a commit durable (`PRAGMA synchronous`).
///
/// # Example
/// ```
/// use switchboard::sqlite::Synchronous;
/// assert_eq!(Synchronous::default(), Synchronous::Full);
/// assert_eq!(Synchronous::Normal.to_string(), "NORMAL");
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Synchronous {
    /// Every commit is synced to disk before `append` returns: survives process crashes and power
    /// cuts. The default.
    #[default]
    Full,
    /// The write-ahead log is synced only at checkpoints: survives process crashes; a power cut
    /// may lose the most recent commits (never corrupts the file).
    Normal,
}

impl Synchronous {
    fn as_sql(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

impl fmt::Display for Synchronous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_sql())
    }
}

/// Options of [`SqliteStorage::open_with`].
///
/// # Example
/// ```
/// use switchboard::sqlite::{SqliteOptions, Synchronous};
/// let o = SqliteOptions::default().synchronous(Synchronous::Normal).retain_journal(true);
/// assert!(o.retain_journal);
/// assert_eq!(o.synchronous, Synchronous::Normal);
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Durability of each commit (default [`Synchronous::Full`]).
    pub synchronous: Synchronous,
    /// Keep the journal rows a snapshot covers instead of deleting them (default `false`).
    pub retain_journal: bool,
}

impl SqliteOptions {
    /// Sets [`SqliteOptions::synchronous`].
    ///
    /// # Example
    /// ```
    /// use switchboard::sqlite::{SqliteOptions, Synchronous};
    /// let o = SqliteOptions::default().synchronous(Synchronous::Normal);
    /// assert_eq!(o.synchronous, Synchronous::Normal);
    /// ```
    #[must_use]
    pub fn synchronous(mut self, s: Synchronous) -> Self {
        self.synchronous = s;
        self
    }
    /// Sets [`SqliteOptions::retain_journal`].
    ///
    /// # Example
    /// ```
    /// use switchboard::sqlite::SqliteOptions;
    /// assert!(SqliteOptions::default().retain_journal(true).retain_journal);
    /// ```
    #[must_use]
    pub fn retain_journal(mut self, keep: bool) -> Self {
        self.retain_journal = keep;
        self
    }
}

/// Which versioned part of a database did not match this build.
///
/// # Example
/// ```
/// use switchboard::sqlite::SchemaPart;
/// assert_eq!(SchemaPart::Journal.to_string(), "journal record schema");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum SchemaPart {
    /// The SQL tables ([`SQLITE_LAYOUT_VERSION`]).
    Layout,
    /// The journal records ([`JOURNAL_VERSION`]).
    Journal,
    /// The snapshots ([`OPERATION_STATE_VERSION`](crate::operation::OPERATION_STATE_VERSION)).
    State,
}

impl fmt::Display for SchemaPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SchemaPart::Layout => "SQL layout",
            SchemaPart::Journal => "journal record schema",
            SchemaPart::State => "snapshot schema",
        })
    }
}

/// Errors of [`SqliteStorage`].
///
/// # Example
/// ```
/// use switchboard::sqlite::{SqliteError, SchemaPart};
/// let e = SqliteError::Version { part: SchemaPart::Journal, found: 2, expected: 1 };
/// assert_eq!(e.to_string(),
///     "database written with journal record schema version 2; this build reads version 1");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// SQLite failed (I/O, locking, a full disk…).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written with another version of a schema; it is refused, not migrated.
    #[error("database written with {part} version {found}; this build reads version {expected}")]
    Version {
        /// Which schema.
        part: SchemaPart,
        /// The version found in the database.
        found: i64,
        /// The version this build reads and writes.
        expected: u32,
    },
    /// The file is an SQLite database of some other application (or lacks switchboard's tables).
    #[error("not a switchboard database: {0}")]
    Foreign(String),
    /// A journal record before the last one is damaged: the journal cannot be trusted.
    #[error("journal damaged at record {seq} (not the last one): {error}")]
    Damaged {
        /// Position of the record.
        seq: u64,
        /// What was wrong.
        error: RecordError,
    },
    /// Journal records are missing between the snapshot and the end of the journal.
    #[error("journal record {expected} missing (next stored record is {found})")]
    Gap {
        /// The position that should have followed.
        expected: u64,
        /// The position found instead.
        found: u64,
    },
    /// The snapshot fails its checksum or does not parse.
    #[error("snapshot through record {through} damaged: {reason}")]
    SnapshotDamaged {
        /// The last record the snapshot covers.
        through: u64,
        /// What was wrong.
        reason: String,
    },
    /// [`Storage::append`] was given records that do not continue the journal.
    #[error("record {got} appended after {last}")]
    OutOfSequence {
        /// The last stored position.
        last: u64,
        /// The position received.
        got: u64,
    },
    /// A value could not be encoded or is out of SQLite's range.
    #[error("cannot encode: {0}")]
    Encode(String),
}

/// The journal and snapshots in an SQLite database file. See the [module docs](self).
///
/// # Example
/// ```
/// use switchboard::*;
/// use switchboard::sqlite::SqliteOptions;
/// let dir = std::env::temp_dir().join(format!("switchboard-doc-s-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("store.db");
/// # let _ = std::fs::remove_file(&path);
/// let mut s = SqliteStorage::open_with(&path, SqliteOptions::default().retain_journal(true))?;
/// s.append(&[JournalRecord { seq: 1, at: Time::ZERO, input: Event::Tick.into() },
///            JournalRecord { seq: 2, at: Time::ZERO, input: Event::Tick.into() }])?;
/// assert_eq!(s.last_seq(), 2);
/// assert_eq!(s.load()?.records.len(), 2);
/// assert_eq!(s.journal(2)?.len(), 1);
/// # drop(s);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SqliteStorage {
    conn: Connection,
    path: PathBuf,
    options: SqliteOptions,
    last_seq: u64,
}

fn to_i64(v: u64) -> Result<i64, SqliteError> {
    i64::try_from(v).map_err(|_| SqliteError::Encode(format!("{v} exceeds SQLite's INTEGER")))
}

fn to_u64(v: i64, what: &str) -> Result<u64, SqliteError> {
    u64::try_from(v).map_err(|_| SqliteError::Foreign(format!("negative {what}: {v}")))
}

/// Reads only the version of a serialised [`OperationState`], whatever else it contains.
#[derive(serde::Deserialize)]
struct VersionProbe {
    version: i64,
}

impl SqliteStorage {
    /// Opens (or creates) the database at `path` with the default [`SqliteOptions`].
    ///
    /// # Errors
    /// [`SqliteError::Sqlite`] when the file cannot be opened or initialised,
    /// [`SqliteError::Version`] when it was written with other schema versions,
    /// [`SqliteError::Foreign`] when it belongs to another application.
    ///
    /// # Example
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("switchboard-doc-o-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let s = switchboard::SqliteStorage::open(dir.join("open.db"))?;
    /// assert_eq!(s.last_seq(), 0);
    /// # drop(s);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens (or creates) the database at `path`: WAL mode, the given durability, checks the
    /// versions recorded in the file.
    ///
    /// # Errors
    /// As [`SqliteStorage::open`].
    ///
    /// # Example
    /// ```
    /// use switchboard::sqlite::{SqliteOptions, SqliteStorage, Synchronous};
    /// # let dir = std::env::temp_dir().join(format!("switchboard-doc-w-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let s = SqliteStorage::open_with(dir.join("fast.db"),
    ///     SqliteOptions::default().synchronous(Synchronous::Normal))?;
    /// assert_eq!(s.options().synchronous, Synchronous::Normal);
    /// # drop(s);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, SqliteError> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let app: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
        let tables: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )?;
        if app != SQLITE_APPLICATION_ID && !(app == 0 && tables == 0) {
            return Err(SqliteError::Foreign(format!(
                "{}: application_id {app:#x}, {tables} tables",
                path.display()
            )));
        }
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SqliteError::Foreign(format!(
                "{}: journal_mode {mode}, WAL unavailable",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", options.synchronous.as_sql())?;
        {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let fresh: i64 = tx.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |r| r.get(0),
            )?;
            if fresh == 0 {
                tx.execute_batch(&format!(
                    "PRAGMA application_id = {SQLITE_APPLICATION_ID};
                     CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                     CREATE TABLE journal (seq INTEGER PRIMARY KEY, bytes BLOB NOT NULL);
                     CREATE TABLE snapshot (through INTEGER PRIMARY KEY,
                         version INTEGER NOT NULL, crc INTEGER NOT NULL, bytes BLOB NOT NULL);
                     CREATE TABLE damaged (seq INTEGER NOT NULL, bytes BLOB NOT NULL,
                         error TEXT NOT NULL, found_at INTEGER NOT NULL);
                     INSERT INTO meta (key, value) VALUES
                         ('layout', {SQLITE_LAYOUT_VERSION}),
                         ('journal_version', {JOURNAL_VERSION}),
                         ('state_version', {STATE_VERSION});"
                ))?;
            }
            check_meta(&tx)?;
            tx.commit()?;
        }
        let last_journal: Option<i64> =
            conn.query_row("SELECT max(seq) FROM journal", [], |r| r.get(0))?;
        let last_snapshot: Option<i64> =
            conn.query_row("SELECT max(through) FROM snapshot", [], |r| r.get(0))?;
        let last_seq = to_u64(
            last_journal.unwrap_or(0).max(last_snapshot.unwrap_or(0)),
            "seq",
        )?;
        Ok(SqliteStorage {
            conn,
            path,
            options,
            last_seq,
        })
    }

    /// The database file.
    ///
    /// # Example
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("switchboard-doc-p-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let s = switchboard::SqliteStorage::open(dir.join("p.db"))?;
    /// assert!(s.path().ends_with("p.db"));
    /// # drop(s);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options it was opened with.
    ///
    /// # Example
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("switchboard-doc-q-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let s = switchboard::SqliteStorage::open(dir.join("q.db"))?;
    /// assert!(!s.options().retain_journal);
    /// # drop(s);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn options(&self) -> SqliteOptions {
        self.options
    }

    /// Position of the last record stored (or covered by the snapshot); 0 when empty.
    ///
    /// # Example
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("switchboard-doc-l-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let s = switchboard::SqliteStorage::open(dir.join("l.db"))?;
    /// assert_eq!(s.last_seq(), 0);
    /// # drop(s);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Every stored journal record with `seq ≥ from`, in order, decoded and verified — for
    /// audits, exports and tests (with [`SqliteOptions::retain_journal`] this is the whole
    /// history). Unlike [`Storage::load`] it tolerates no damage at all.
    ///
    /// # Errors
    /// [`SqliteError::Damaged`] for any unreadable record, [`SqliteError::Gap`] for a missing
    /// one, [`SqliteError::Sqlite`] on I/O failure.
    ///
    /// # Example
    /// ```
    /// use switchboard::*;
    /// # let dir = std::env::temp_dir().join(format!("switchboard-doc-j-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let mut s = SqliteStorage::open(dir.join("j.db"))?;
    /// s.append(&[JournalRecord { seq: 1, at: Time::ZERO, input: Event::Tick.into() }])?;
    /// assert_eq!(s.journal(1)?[0].input, Event::Tick.into());
    /// # drop(s);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn journal(&self, from: u64) -> Result<Vec<JournalRecord>, SqliteError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, bytes FROM journal WHERE seq >= ?1 ORDER BY seq")?;
        let mut rows = stmt.query(params![to_i64(from)?])?;
        let mut out: Vec<JournalRecord> = Vec::new();
        while let Some(row) = rows.next()? {
            let seq = to_u64(row.get(0)?, "seq")?;
            if let Some(prev) = out.last()
                && prev.seq + 1 != seq
            {
                return Err(SqliteError::Gap {
                    expected: prev.seq + 1,
                    found: seq,
                });
            }
            let bytes = row.get_ref(1)?.as_blob().unwrap_or(&[]);
            out.push(decode_row(seq, bytes).map_err(|error| SqliteError::Damaged { seq, error })?);
        }
        Ok(out)
    }

    /// Records set aside as a damaged journal tail by earlier [`Storage::load`]s:
    /// `(seq, error message)`, oldest first. The raw bytes stay in the `damaged` table.
    ///
    /// # Errors
    /// [`SqliteError::Sqlite`] on I/O failure.
    ///
    /// # Example
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("switchboard-doc-d-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let s = switchboard::SqliteStorage::open(dir.join("d.db"))?;
    /// assert!(s.damaged_records()?.is_empty());
    /// # drop(s);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn damaged_records(&self) -> Result<Vec<(u64, String)>, SqliteError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, error FROM damaged ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, error) = row?;
            out.push((to_u64(seq, "seq")?, error));
        }
        Ok(out)
    }

    fn read_snapshot(&self) -> Result<Option<(u64, OperationState)>, SqliteError> {
        let row: Option<(i64, i64, i64, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT through, version, crc, bytes FROM snapshot ORDER BY through DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((through, version, crc, bytes)) = row else {
            return Ok(None);
        };
        let through = to_u64(through, "snapshot position")?;
        let damaged = |reason: String| SqliteError::SnapshotDamaged { through, reason };
        if i64::from(crc32fast::hash(&bytes)) != crc {
            return Err(damaged("checksum mismatch".into()));
        }
        let probe: VersionProbe =
            serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
        for found in [version, probe.version] {
            if found != i64::from(STATE_VERSION) {
                return Err(SqliteError::Version {
                    part: SchemaPart::State,
                    found,
                    expected: STATE_VERSION,
                });
            }
        }
        let state: OperationState =
            serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
        Ok(Some((through, state)))
    }

    /// Moves a damaged last record out of the journal (into `damaged`), so the journal can
    /// continue at its position.
    fn set_aside(
        &mut self,
        seq: u64,
        bytes: &[u8],
        error: &RecordError,
    ) -> Result<(), SqliteError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO damaged (seq, bytes, error, found_at) VALUES (?1, ?2, ?3, ?4)",
            params![to_i64(seq)?, bytes, error.to_string(), now],
        )?;
        tx.execute("DELETE FROM journal WHERE seq = ?1", params![to_i64(seq)?])?;
        tx.commit()?;
        Ok(())
    }
}

/// Decodes a journal row and checks that the record's position matches the row's.
fn decode_row(seq: u64, bytes: &[u8]) -> Result<JournalRecord, RecordError> {
    let rec = JournalRecord::decode(bytes)?;
    if rec.seq == seq {
        Ok(rec)
    } else {
        Err(RecordError::Payload(format!(
            "record says seq {}, stored at {seq}",
            rec.seq
        )))
    }
}

/// Refuses a database whose recorded versions differ from this build's.
fn check_meta(conn: &Connection) -> Result<(), SqliteError> {
    for (key, part, expected) in [
        ("layout", SchemaPart::Layout, SQLITE_LAYOUT_VERSION),
        ("journal_version", SchemaPart::Journal, JOURNAL_VERSION),
        ("state_version", SchemaPart::State, STATE_VERSION),
    ] {
        let found: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?;
        match found {
            None => return Err(SqliteError::Foreign(format!("meta has no {key}"))),
            Some(v) if v != i64::from(expected) => {
                return Err(SqliteError::Version {
                    part,
                    found: v,
                    expected,
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

impl Storage for SqliteStorage {
    type Error = SqliteError;

    /// Appends the records in one transaction (one commit, synced per [`Synchronous`]).
    fn append(&mut self, records: &[JournalRecord]) -> Result<(), SqliteError> {
        let mut last = self.last_seq;
        for r in records {
            if r.seq != last + 1 {
                return Err(SqliteError::OutOfSequence { last, got: r.seq });
            }
            last = r.seq;
        }
        if records.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached("INSERT INTO journal (seq, bytes) VALUES (?1, ?2)")?;
            for r in records {
                stmt.execute(params![to_i64(r.seq)?, r.encode()])?;
            }
        }
        tx.commit()?;
        self.last_seq = last;
        Ok(())
    }

    /// Writes the snapshot (replacing older ones) and, unless
    /// [`SqliteOptions::retain_journal`], deletes the records it covers — in one transaction.
    fn save_snapshot(&mut self, through: u64, state: &OperationState) -> Result<(), SqliteError> {
        let bytes = serde_json::to_vec(state).map_err(|e| SqliteError::Encode(e.to_string()))?;
        let crc = i64::from(crc32fast::hash(&bytes));
        let through_i = to_i64(through)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR REPLACE INTO snapshot (through, version, crc, bytes) VALUES (?1, ?2, ?3, ?4)",
            params![through_i, STATE_VERSION, crc, bytes],
        )?;
        tx.execute("DELETE FROM snapshot WHERE through < ?1", [through_i])?;
        if !self.options.retain_journal {
            tx.execute("DELETE FROM journal WHERE seq <= ?1", [through_i])?;
        }
        tx.commit()?;
        self.last_seq = self.last_seq.max(through);
        Ok(())
    }

    /// Loads the newest snapshot and the records after it. A damaged *last* record is reported
    /// in [`Loaded::damaged_tail`] and moved to the `damaged` table (so the journal continues at
    /// its position); damage anywhere else, a gap, or a record of another schema version is an
    /// error.
    fn load(&mut self) -> Result<Loaded, SqliteError> {
        check_meta(&self.conn)?;
        let snapshot = self.read_snapshot()?;
        let from = snapshot.as_ref().map_or(0, |s| s.0);
        let mut records = Vec::new();
        // A record that failed to decode; fatal unless it turns out to be the last one.
        let mut pending: Option<(u64, Vec<u8>, RecordError)> = None;
        {
            let mut stmt = self
                .conn
                .prepare("SELECT seq, bytes FROM journal WHERE seq > ?1 ORDER BY seq")?;
            let mut rows = stmt.query([to_i64(from)?])?;
            let mut expected = from + 1;
            while let Some(row) = rows.next()? {
                let seq = to_u64(row.get(0)?, "seq")?;
                if let Some((seq, _, error)) = pending.take() {
                    return Err(SqliteError::Damaged { seq, error });
                }
                if seq != expected {
                    return Err(SqliteError::Gap {
                        expected,
                        found: seq,
                    });
                }
                expected = seq + 1;
                // Borrowed from SQLite's row buffer (copied only if damaged); not a blob = damaged.
                let bytes = row.get_ref(1)?.as_blob().unwrap_or(&[]);
                match decode_row(seq, bytes) {
                    Ok(rec) => records.push(rec),
                    Err(RecordError::Version { found, expected }) => {
                        return Err(SqliteError::Version {
                            part: SchemaPart::Journal,
                            found: i64::from(found),
                            expected,
                        });
                    }
                    Err(error) => pending = Some((seq, bytes.to_vec(), error)),
                }
            }
        }
        let damaged_tail = match pending {
            Some((seq, bytes, error)) => {
                self.set_aside(seq, &bytes, &error)?;
                Some(DamagedRecord { seq, error })
            }
            None => None,
        };
        self.last_seq = records.last().map_or(from, |r| r.seq);
        Ok(Loaded {
            snapshot,
            records,
            damaged_tail,
        })
    }
}
