//! The run journal: one JSON event per line, SHA-256 chained, fsynced before side effects.
//!
//! `<runs>/<run-id>/journal.jsonl`. Each line is the record's JSON with `hash` last; `hash` is
//! the SHA-256 of the line's bytes up to (not including) `,"hash":`, and `prev` is the previous
//! line's hash, so changing, removing or reordering any byte is detected by [`verify`].
//!
//! Appends go to one writer thread that batches whatever is queued into a single write and a
//! single `fdatasync` (group commit), then acknowledges each append: an `append(...).await` that
//! returned is on disk.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, oneshot};

use crate::events::Event;
pub use crate::events::EventKind;
use crate::redact::Redactor;

/// The `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const HASH_FIELD: &str = ",\"hash\":\"";
/// `,"hash":"` + 64 hex digits + `"}`
const SUFFIX_LEN: usize = 9 + 64 + 2;

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Record {
    /// 1, 2, 3, ... without gaps.
    pub seq: u64,
    /// RFC 3339, UTC, microseconds.
    pub ts: String,
    /// The run id.
    pub run: String,
    /// The step the event is about; `None` for run-level events.
    pub step: Option<String>,
    /// The step's attempt number; `None` when the event is not about one attempt.
    pub attempt: Option<u32>,
    /// What happened.
    pub event: EventKind,
    /// The event's payload: the struct in [`crate::events`] named after `event`.
    pub data: serde_json::Value,
    /// `hash` of the previous line (64 zeros for the first).
    pub prev: String,
    /// SHA-256 (hex) of this line up to `,"hash":`.
    pub hash: String,
}

/// The record without its hash, serialized in field order to make the hashed prefix.
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    ts: &'a str,
    run: &'a str,
    step: Option<&'a str>,
    attempt: Option<u32>,
    event: EventKind,
    data: &'a serde_json::Value,
    prev: &'a str,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Build the line (without newline) and hash for a record body.
fn seal(body: &Body<'_>) -> (String, String) {
    let json = serde_json::to_string(body).expect("a record is JSON");
    let prefix = &json[..json.len() - 1];
    let hash = hex(&Sha256::digest(prefix.as_bytes()));
    (format!("{prefix}{HASH_FIELD}{hash}\"}}"), hash)
}

/// Where a run's files live.
pub fn run_dir(runs_dir: &Path, run_id: &str) -> PathBuf {
    runs_dir.join(run_id)
}

/// The journal file of a run: `<runs_dir>/<run_id>/journal.jsonl`.
pub fn journal_path(runs_dir: &Path, run_id: &str) -> PathBuf {
    run_dir(runs_dir, run_id).join("journal.jsonl")
}

#[derive(Debug, thiserror::Error)]
/// Why a journal could not be opened or written.
pub enum JournalError {
    #[error("cannot open journal {path}: {source}")]
    /// The journal file could not be opened or locked for appending.
    Open {
        /// The journal file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    #[error("run `{run}` is in use by another ripcord process (its journal is locked)")]
    /// Another ripcord process holds the journal's lock.
    Locked {
        /// The run id.
        run: String,
    },
    #[error("journal write failed: {0}")]
    /// Writing or syncing the file failed.
    Write(#[from] io::Error),
    #[error("the journal writer has stopped")]
    /// The writer thread is gone, so nothing more can be appended.
    Closed,
}

struct Pending {
    step: Option<String>,
    attempt: Option<u32>,
    event: EventKind,
    data: serde_json::Value,
    ack: oneshot::Sender<Result<Arc<Record>, String>>,
}

/// A run's journal, open for appending. Cheap to clone; all clones feed one writer thread.
#[derive(Clone)]
pub struct Journal {
    run: Arc<str>,
    path: Arc<Path>,
    tx: std_mpsc::Sender<Pending>,
    events: broadcast::Sender<Arc<Record>>,
}

impl Journal {
    /// Create the journal of a new run (fails if it exists).
    pub fn create(
        runs_dir: &Path,
        run_id: &str,
        redactor: Redactor,
    ) -> Result<Journal, JournalError> {
        let dir = run_dir(runs_dir, run_id);
        let path = dir.join("journal.jsonl");
        let open_err = |source| JournalError::Open {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(open_err)?;
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(open_err)?;
        lock(&file, run_id)?;
        // The new directory entries must survive a crash too.
        sync_dir(&dir).map_err(open_err)?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent).map_err(open_err)?;
        }
        Self::start(run_id, path, file, 0, GENESIS.to_owned(), redactor)
    }

    /// Open an existing journal to continue a run (resume, retry). A torn last line left by a
    /// crash is cut off first; any other damage is refused.
    pub fn reopen(
        runs_dir: &Path,
        run_id: &str,
        redactor: Redactor,
    ) -> Result<(Journal, Vec<Record>), ReopenError> {
        let path = journal_path(runs_dir, run_id);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|source| {
                ReopenError::Journal(JournalError::Open {
                    path: path.clone(),
                    source,
                })
            })?;
        lock(&file, run_id).map_err(ReopenError::Journal)?;
        let report = verify(&path).map_err(|source| {
            ReopenError::Journal(JournalError::Open {
                path: path.clone(),
                source,
            })
        })?;
        if let Some(bad) = report.problem {
            if !bad.torn_tail {
                return Err(ReopenError::Tampered(bad));
            }
            file.set_len(report.valid_bytes)
                .and_then(|()| file.sync_data())
                .map_err(|e| ReopenError::Journal(JournalError::Write(e)))?;
        }
        let last = report
            .records
            .last()
            .map_or(GENESIS.to_owned(), |r| r.hash.clone());
        let seq = report.records.last().map_or(0, |r| r.seq);
        let journal =
            Self::start(run_id, path, file, seq, last, redactor).map_err(ReopenError::Journal)?;
        Ok((journal, report.records))
    }

    fn start(
        run_id: &str,
        path: PathBuf,
        file: File,
        seq: u64,
        prev: String,
        redactor: Redactor,
    ) -> Result<Journal, JournalError> {
        // The writer owns the (locked) file: the lock lasts as long as the run writes.
        let (tx, rx) = std_mpsc::channel::<Pending>();
        let (events, _) = broadcast::channel(4096);
        let writer = Writer {
            run: run_id.to_owned(),
            file,
            seq,
            prev,
            redactor,
            events: events.clone(),
        };
        std::thread::Builder::new()
            .name("ripcord-journal".into())
            .spawn(move || writer.run(rx))
            .map_err(JournalError::Write)?;
        Ok(Journal {
            run: run_id.into(),
            path: path.into(),
            tx,
            events,
        })
    }

    /// The run this journal belongs to.
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append an event; returns once it is on disk.
    pub async fn append(
        &self,
        step: Option<&str>,
        attempt: Option<u32>,
        event: impl Into<Event>,
    ) -> Result<Arc<Record>, JournalError> {
        let event = event.into();
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Pending {
                step: step.map(str::to_owned),
                attempt,
                event: event.kind(),
                data: event.data(),
                ack,
            })
            .map_err(|_| JournalError::Closed)?;
        match done.await {
            Ok(Ok(record)) => Ok(record),
            Ok(Err(e)) => Err(JournalError::Write(io::Error::other(e))),
            Err(_) => Err(JournalError::Closed),
        }
    }

    /// Records as they become durable, in journal order (for progress displays).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Record>> {
        self.events.subscribe()
    }
}

fn lock(file: &File, run_id: &str) -> Result<(), JournalError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(_) => Err(JournalError::Locked { run: run_id.into() }),
    }
}

#[derive(Debug, thiserror::Error)]
/// Why an existing journal could not be reopened for appending.
pub enum ReopenError {
    #[error(transparent)]
    /// Opening or locking it failed.
    Journal(JournalError),
    #[error("journal failed verification: {0}")]
    /// It did not verify; appending would extend a broken chain.
    Tampered(Problem),
}

struct Writer {
    run: String,
    file: File,
    seq: u64,
    prev: String,
    redactor: Redactor,
    events: broadcast::Sender<Arc<Record>>,
}

impl Writer {
    fn run(mut self, rx: std_mpsc::Receiver<Pending>) {
        // Ends when every Journal clone is dropped.
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            batch.extend(rx.try_iter());
            let mut buffer = String::new();
            let mut sealed = Vec::with_capacity(batch.len());
            for p in batch {
                self.seq += 1;
                let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                let data = self.redactor.json(&p.data);
                let step = p.step.as_deref().map(|s| self.redactor.text(s));
                let body = Body {
                    seq: self.seq,
                    ts: &ts,
                    run: &self.run,
                    step: step.as_deref(),
                    attempt: p.attempt,
                    event: p.event,
                    data: &data,
                    prev: &self.prev,
                };
                let (line, hash) = seal(&body);
                buffer.push_str(&line);
                buffer.push('\n');
                let record = Record {
                    seq: self.seq,
                    ts,
                    run: self.run.clone(),
                    step,
                    attempt: p.attempt,
                    event: p.event,
                    data,
                    prev: std::mem::replace(&mut self.prev, hash.clone()),
                    hash,
                };
                sealed.push((Arc::new(record), p.ack));
            }
            let result = self
                .file
                .write_all(buffer.as_bytes())
                .and_then(|()| self.file.sync_data());
            for (record, ack) in sealed {
                match &result {
                    Ok(()) => {
                        let _ = self.events.send(record.clone());
                        let _ = ack.send(Ok(record));
                    }
                    Err(e) => {
                        let _ = ack.send(Err(e.to_string()));
                    }
                }
            }
            if result.is_err() {
                // Nothing after a failed write can be trusted to be durable: stop accepting.
                return;
            }
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The first problem found in a journal.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct Problem {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with that line.
    pub reason: String,
    /// The problem is an incomplete last line (a crash mid-write), not tampering.
    pub torn_tail: bool,
}

/// What [`verify`] found.
#[derive(Debug)]
pub struct VerifyReport {
    /// The records up to the first problem.
    pub records: Vec<Record>,
    /// Bytes of the file that verified.
    pub valid_bytes: u64,
    /// The first problem; `None` when the whole file verified.
    pub problem: Option<Problem>,
}

/// Check every line's hash, the chain of `prev`, `seq` without gaps and one run id.
pub fn verify(path: &Path) -> io::Result<VerifyReport> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut reader = io::BufReader::new(file);
    let mut records = Vec::new();
    let mut valid_bytes = 0u64;
    let mut prev = GENESIS.to_owned();
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let complete = buf.last() == Some(&b'\n');
        let at_end = valid_bytes + n as u64 == len;
        let text = String::from_utf8_lossy(if complete { &buf[..n - 1] } else { &buf[..] });
        let fail = |reason: String| Problem {
            line: line_no,
            reason,
            torn_tail: !complete && at_end,
        };
        let outcome = check_line(
            &text,
            line_no as u64,
            &prev,
            records.first().map(|r: &Record| r.run.as_str()),
        );
        match outcome {
            Ok(record) if complete => {
                prev = record.hash.clone();
                records.push(record);
                valid_bytes += n as u64;
            }
            Ok(_) => {
                return Ok(VerifyReport {
                    records,
                    valid_bytes,
                    problem: Some(fail(
                        "the line is not terminated (a write was cut short)".into(),
                    )),
                });
            }
            Err(reason) => {
                return Ok(VerifyReport {
                    records,
                    valid_bytes,
                    problem: Some(fail(reason)),
                });
            }
        }
    }
    Ok(VerifyReport {
        records,
        valid_bytes,
        problem: None,
    })
}

fn check_line(text: &str, seq: u64, prev: &str, run: Option<&str>) -> Result<Record, String> {
    if text.len() < SUFFIX_LEN || !text.is_char_boundary(text.len() - SUFFIX_LEN) {
        return Err("too short to be a journal record".into());
    }
    let (prefix, suffix) = text.split_at(text.len() - SUFFIX_LEN);
    let hash = suffix
        .strip_prefix(HASH_FIELD)
        .and_then(|s| s.strip_suffix("\"}"))
        .ok_or("the line does not end with its hash")?;
    let actual = hex(&Sha256::digest(prefix.as_bytes()));
    if actual != hash {
        return Err(format!(
            "hash mismatch: the line was changed (expected {hash}, content hashes to {actual})"
        ));
    }
    let record: Record =
        serde_json::from_str(text).map_err(|e| format!("not a journal record: {e}"))?;
    if record.hash != hash {
        return Err("the hash field is duplicated".into());
    }
    if record.seq != seq {
        return Err(format!(
            "seq {} where {seq} was expected (a line was removed or reordered)",
            record.seq
        ));
    }
    if record.prev != prev {
        return Err(
            "prev does not match the previous line's hash (a line was removed, added or reordered)"
                .into(),
        );
    }
    if let Some(run) = run
        && record.run != run
    {
        return Err(format!("run id `{}` differs from `{run}`", record.run));
    }
    Ok(record)
}

/// One journal line as the schema describes it: [`Record`] with `event` and `data` typed
/// together by [`Event`].
#[derive(JsonSchema)]
#[schemars(rename = "Record")]
#[allow(dead_code)] // only its schema is used
struct RecordSchema {
    /// 1, 2, 3, ... without gaps.
    seq: u64,
    /// RFC 3339, UTC, microseconds.
    ts: String,
    /// The run id.
    run: String,
    step: Option<String>,
    attempt: Option<u32>,
    #[serde(flatten)]
    event: Event,
    /// `hash` of the previous line (64 zeros for the first).
    prev: String,
    /// SHA-256 (hex) of this line up to `,"hash":`.
    hash: String,
}

/// JSON Schema of one journal line, generated from [`RecordSchema`] (committed as
/// schemas/journal-event.schema.json).
pub fn journal_schema_json() -> String {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<RecordSchema>();
    let mut value = serde_json::to_value(schema).expect("a schema is JSON");
    value["$id"] = serde_json::json!("https://ripcord.dev/schemas/journal-event.schema.json");
    value["title"] = serde_json::json!("ripcord journal event (one line of journal.jsonl)");
    let mut text = serde_json::to_string_pretty(&value).expect("a schema is JSON");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sample(dir: &Path) -> PathBuf {
        let journal = Journal::create(dir, "r1", Redactor::new(vec!["s3cret".into()])).unwrap();
        for i in 0..5 {
            journal
                .append(
                    Some("a"),
                    Some(1),
                    crate::events::Note {
                        kind: "test".into(),
                        data: serde_json::json!({"i": i, "pw": "s3cret"}),
                    },
                )
                .await
                .unwrap();
        }
        journal.path().to_owned()
    }

    #[tokio::test]
    async fn a_written_journal_verifies_and_redacts() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path()).await;
        let report = verify(&path).unwrap();
        assert_eq!(report.problem, None);
        assert_eq!(report.records.len(), 5);
        assert!(!std::fs::read_to_string(&path).unwrap().contains("s3cret"));
    }

    #[tokio::test]
    async fn every_flipped_byte_is_caught_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path()).await;
        let original = std::fs::read(&path).unwrap();
        for i in 0..original.len() {
            let mut bytes = original.clone();
            bytes[i] ^= 0x01;
            std::fs::write(&path, &bytes).unwrap();
            let report = verify(&path).unwrap();
            let line = original[..i].iter().filter(|&&b| b == b'\n').count() + 1;
            let problem = report
                .problem
                .unwrap_or_else(|| panic!("flip at byte {i} not caught"));
            assert!(
                problem.line == line || problem.line == line + 1,
                "byte {i}: {problem:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_torn_tail_is_cut_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path()).await;
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"seq\":6,\"ts\"");
        std::fs::write(&path, &bytes).unwrap();
        let (journal, records) = Journal::reopen(dir.path(), "r1", Redactor::default()).unwrap();
        assert_eq!(records.len(), 5);
        journal
            .append(None, None, crate::events::RunResumed::default())
            .await
            .unwrap();
        drop(journal);
        let report = verify(&path).unwrap();
        assert_eq!(report.problem, None);
        assert_eq!(report.records.len(), 6);
    }
}
