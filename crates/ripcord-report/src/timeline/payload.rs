//! The free-form parts of journal events that the timeline reads, decoded here and nowhere
//! else: the `data` of the note kinds it knows, and an approval step's result.
//!
//! Each executor owns its notes' shape, so these are the timeline's lenient view of them:
//! every field may be missing, and a note of a shape it does not know is shown as it is.

use ripcord_engine::events::Note;
use ripcord_engine::process::{PROCESS_STARTED, StartedProcess};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

/// `approval_waiting`: an approval step began waiting for a person.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ApprovalWaiting {
    pub prompt: Option<String>,
    /// Who may decide; empty: anyone.
    pub approvers: Vec<String>,
}

/// `approval_refused`: someone decided who may not.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ApprovalRefused {
    pub by: Option<String>,
    /// What they decided (approve or reject).
    pub approved: bool,
    pub via: Option<String>,
    pub reason: Option<String>,
}

/// A note, by the kinds the timeline knows.
pub(super) enum NoteData<'a> {
    ApprovalWaiting(ApprovalWaiting),
    ApprovalRefused(ApprovalRefused),
    ProcessStarted(StartedProcess),
    /// Any other kind, or a known kind of a shape not understood: shown as `kind: data`.
    Other {
        kind: &'a str,
        data: &'a Json,
    },
}

impl<'a> NoteData<'a> {
    pub(super) fn of(note: &'a Note) -> Self {
        fn read<T: DeserializeOwned>(data: &Json) -> Option<T> {
            T::deserialize(data).ok()
        }
        let known = match note.kind.as_str() {
            "approval_waiting" => read(&note.data).map(NoteData::ApprovalWaiting),
            "approval_refused" => read(&note.data).map(NoteData::ApprovalRefused),
            PROCESS_STARTED => read(&note.data).map(NoteData::ProcessStarted),
            _ => None,
        };
        known.unwrap_or(NoteData::Other {
            kind: &note.kind,
            data: &note.data,
        })
    }
}

/// The result of an `approval` step that was approved (`approved_by` is null in a dry run).
#[derive(Debug, Deserialize)]
pub(super) struct Approved {
    pub approved_by: String,
    #[serde(default)]
    pub approved_at: Option<String>,
    #[serde(default)]
    pub via: Option<String>,
}

impl Approved {
    /// The approval in a step's result, if the result is one.
    pub(super) fn of(result: &Json) -> Option<Self> {
        Self::deserialize(result).ok()
    }
}

/// A short JSON rendering of a value for event details.
pub(super) fn compact(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn note(kind: &str, data: Json) -> Note {
        Note {
            kind: kind.into(),
            data,
        }
    }

    #[test]
    fn known_kinds_decode_and_odd_shapes_fall_back() {
        let n = note("approval_waiting", json!({"prompt": "go?", "hint": "x"}));
        assert!(matches!(
            NoteData::of(&n),
            NoteData::ApprovalWaiting(ApprovalWaiting { prompt: Some(p), approvers }) if p == "go?" && approvers.is_empty()
        ));
        let n = note("approval_waiting", json!({"approvers": "erin"}));
        assert!(matches!(NoteData::of(&n), NoteData::Other { .. }));
        let n = note("eviction_blocked", json!({"pod": "a"}));
        assert!(matches!(
            NoteData::of(&n),
            NoteData::Other {
                kind: "eviction_blocked",
                ..
            }
        ));
    }

    #[test]
    fn only_an_approval_result_is_an_approval() {
        assert!(Approved::of(&json!({"stdout": ""})).is_none());
        assert!(Approved::of(&json!({"dry_run": true, "approved_by": null})).is_none());
        let a = Approved::of(&json!({"approved_by": "alice", "via": "cli"})).unwrap();
        assert_eq!((a.approved_by.as_str(), a.approved_at), ("alice", None));
    }
}
