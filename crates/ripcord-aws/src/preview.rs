//! What dry runs report: the diff and pre-state of a previewed write, and the predicted state
//! (the [`Overlay`]) that later dry-run reads of the same run see.

use std::collections::{BTreeMap, BTreeSet};

use ripcord_engine::preview::{Change, DIFF_ITEMS};
use ripcord_engine::{Diff, PreState};
use sha2::{Digest, Sha256};

use crate::s3::S3Url;

/// The keys of one action of a diff: the full count, and the first [`DIFF_ITEMS`] in sorted
/// (binary) order whatever order they came in.
#[derive(Clone, Debug, Default)]
pub(crate) struct Keys {
    count: u64,
    first: BTreeSet<String>,
}

impl Keys {
    pub(crate) fn add(&mut self, key: &str) {
        self.count += 1;
        let smaller = self.first.last().is_none_or(|l| key < l.as_str());
        if self.first.len() < DIFF_ITEMS || smaller {
            self.first.insert(key.to_owned());
            if self.first.len() > DIFF_ITEMS {
                self.first.pop_last();
            }
        }
    }

    fn change(&self, action: &str) -> Change {
        Change {
            action: action.to_owned(),
            count: self.count,
            items: self.first.iter().cloned().collect(),
        }
    }
}

/// What an `s3.sync` would do (dry run) or did (real run), keys relative to the prefixes.
#[derive(Clone, Debug, Default)]
pub(crate) struct SyncChanges {
    pub copy: Keys,
    pub overwrite: Keys,
    pub delete: Keys,
}

impl SyncChanges {
    /// `30 to copy, 3 to overwrite, 1 to delete`; `delete` only when the sync deletes.
    pub(crate) fn diff(&self, deletes: bool) -> Diff {
        let mut changes = vec![self.copy.change("copy"), self.overwrite.change("overwrite")];
        if deletes {
            changes.push(self.delete.change("delete"));
        }
        Diff::new(changes)
    }
}

/// One listed object as a fingerprint sees it.
pub(crate) type Entry = (String, String, u64);

/// The pre-state of a listed prefix: sha256 hex over the sorted (key, etag, size) entries.
pub(crate) fn listing_state(url: &S3Url, mut entries: Vec<Entry>) -> PreState {
    entries.sort();
    let mut h = Sha256::new();
    let mut bytes = 0u64;
    for (key, etag, size) in &entries {
        h.update(format!("{key}\0{etag}\0{size}\n").as_bytes());
        bytes += size;
    }
    PreState {
        object: url.to_string(),
        fingerprint: hex(&h.finalize()),
        detail: Some(format!("{} objects, {}", entries.len(), human_bytes(bytes))),
    }
}

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `512 B`, `4.2 KiB`, `1.5 GiB`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// What a dry-run write predicts for one object.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Predicted {
    /// A copy of `source` would be there (its ETag and size, as the source has them).
    Put {
        source: S3Url,
        etag: String,
        size: u64,
    },
    /// It would be deleted.
    Deleted,
}

/// The predicted contents of the objects the run's dry-run writes touched, by bucket and key.
/// Reads of a dry run merge it over the live listing, so verification steps preview the state
/// a restore would leave instead of the damage it would repair.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    buckets: BTreeMap<String, BTreeMap<String, Predicted>>,
}

impl Overlay {
    pub(crate) fn record(&mut self, bucket: &str, key: String, p: Predicted) {
        self.buckets
            .entry(bucket.to_owned())
            .or_default()
            .insert(key, p);
    }

    /// The prediction for one object, if a dry-run write touched it.
    pub(crate) fn get(&self, bucket: &str, key: &str) -> Option<&Predicted> {
        self.buckets.get(bucket)?.get(key)
    }

    /// Every prediction under a prefix (full keys).
    pub(crate) fn under(&self, bucket: &str, prefix: &str) -> Vec<(String, Predicted)> {
        let Some(keys) = self.buckets.get(bucket) else {
            return Vec::new();
        };
        keys.range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, p)| (k.clone(), p.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_smallest_sorted() {
        let mut k = Keys::default();
        for i in (0..25).rev() {
            k.add(&format!("k{i:02}"));
        }
        let c = k.change("copy");
        assert_eq!(c.count, 25);
        assert_eq!(c.items.len(), DIFF_ITEMS);
        assert_eq!(c.items[0], "k00");
        assert_eq!(c.items[DIFF_ITEMS - 1], format!("k{:02}", DIFF_ITEMS - 1));
    }

    #[test]
    fn fingerprints_ignore_listing_order_and_see_changes() {
        let url = S3Url {
            bucket: "b".into(),
            key: "p/".into(),
        };
        let a = vec![("x".into(), "e1".into(), 3), ("a/y".into(), "e2".into(), 4)];
        let mut b = a.clone();
        b.reverse();
        assert_eq!(listing_state(&url, a.clone()), listing_state(&url, b));
        let mut c = a.clone();
        c[0].1 = "e9".into();
        assert_ne!(
            listing_state(&url, a.clone()).fingerprint,
            listing_state(&url, c).fingerprint
        );
        assert_eq!(
            listing_state(&url, a).detail.as_deref(),
            Some("2 objects, 7 B")
        );
        assert_eq!(human_bytes(4300), "4.2 KiB");
    }

    #[test]
    fn overlay_under_a_prefix() {
        let mut o = Overlay::default();
        o.record("b", "a/1".into(), Predicted::Deleted);
        o.record("b", "b/1".into(), Predicted::Deleted);
        assert_eq!(o.under("b", "a/").len(), 1);
        assert_eq!(o.under("b", "").len(), 2);
        assert!(o.under("c", "").is_empty());
        assert_eq!(o.get("b", "b/1"), Some(&Predicted::Deleted));
    }
}
