//! The object store: objects by resource, namespace and name; one resourceVersion counter;
//! an event history for watches from a resourceVersion; optimistic concurrency.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::resources::Resource;
use crate::selectors::{FieldSelector, LabelSelector};

/// Events kept for watches that start from an older resourceVersion.
pub(crate) const HISTORY: usize = 10_000;

pub(crate) type Key = (&'static Resource, String, String);

/// An API error, rendered as a `Status` object.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }
    pub fn not_found(res: &Resource, name: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(res)),
        );
        e.details = Some(json!({"name": name, "group": res.group, "kind": res.plural}));
        e
    }
    pub fn already_exists(res: &Resource, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(res)),
        );
        e.details = Some(json!({"name": name, "group": res.group, "kind": res.plural}));
        e
    }
    pub fn conflict(res: &Resource, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(res)
            ),
        );
        e.details = Some(json!({"name": name, "group": res.group, "kind": res.plural}));
        e
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    pub fn invalid(res: &Resource, name: &str, message: impl Into<String>) -> Self {
        Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {}", res.kind, message.into()),
        )
    }
    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

pub(crate) fn qualified(res: &Resource) -> String {
    if res.group.is_empty() {
        res.plural.to_owned()
    } else {
        format!("{}.{}", res.plural, res.group)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// A change to one object, as watches see it.
#[derive(Debug)]
pub(crate) struct Event {
    pub rv: u64,
    pub res: &'static Resource,
    pub ns: String,
    pub kind: EventType,
    pub object: Value,
    /// The object before a modification (to turn selector transitions into ADDED/DELETED).
    pub old: Option<Value>,
}

/// Time-based work the simulated kubelet and controllers have promised.
#[derive(Default)]
pub(crate) struct Timers {
    /// Pod uid -> when the kubelet reports it Ready (after scheduling).
    pub ready_at: HashMap<String, Instant>,
    /// Pod uid -> when the kubelet confirms a graceful deletion.
    pub remove_at: HashMap<String, Instant>,
    /// Namespace name -> earliest removal of a terminating namespace.
    pub namespace_at: HashMap<String, Instant>,
    /// Pod uid -> the instant the pod was last written Ready (for latency measurements).
    pub became_ready: HashMap<String, Instant>,
}

pub(crate) struct Store {
    rv: u64,
    uid: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Arc<Event>>,
    /// Events with a resourceVersion at or below this were dropped from the history.
    floor: u64,
    tx: broadcast::Sender<Arc<Event>>,
    pub timers: Timers,
    pub name_seq: u64,
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Store {
    pub(crate) fn new() -> Self {
        let (tx, _) = broadcast::channel(HISTORY);
        Self {
            rv: 1000,
            uid: 0,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            floor: 1000,
            tx,
            timers: Timers::default(),
            name_seq: 0,
        }
    }

    pub(crate) fn resource_version(&self) -> u64 {
        self.rv
    }

    pub(crate) fn get(&self, res: &'static Resource, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get(&(res, ns.to_owned(), name.to_owned()))
    }

    /// Objects of a resource, in one namespace (`Some`) or all, filtered by selectors.
    pub(crate) fn list(
        &self,
        res: &'static Resource,
        ns: Option<&str>,
        labels: Option<&LabelSelector>,
        fields: Option<&FieldSelector>,
    ) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((r, n, _), _)| std::ptr::eq(*r, res) && ns.is_none_or(|ns| ns == n))
            .filter(|(_, o)| {
                labels.is_none_or(|l| l.matches(o)) && fields.is_none_or(|f| f.matches(o))
            })
            .map(|(_, o)| o.clone())
            .collect()
    }

    /// Every object in a namespace (any resource).
    pub(crate) fn keys_in_namespace(&self, ns: &str) -> Vec<Key> {
        self.objects
            .keys()
            .filter(|(r, n, _)| r.namespaced && n == ns)
            .cloned()
            .collect()
    }

    pub(crate) fn all_keys(&self) -> Vec<Key> {
        self.objects.keys().cloned().collect()
    }

    pub(crate) fn uid_exists(&self, uid: &str) -> bool {
        self.objects
            .values()
            .any(|o| o["metadata"]["uid"].as_str() == Some(uid))
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Events after `rv`, or `None` when the history no longer reaches back that far (410).
    pub(crate) fn events_since(&self, rv: u64) -> Option<Vec<Arc<Event>>> {
        if rv < self.floor {
            return None;
        }
        Some(self.history.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    fn emit(&mut self, event: Event) {
        let event = Arc::new(event);
        if self.history.len() >= HISTORY
            && let Some(old) = self.history.pop_front()
        {
            self.floor = old.rv;
        }
        self.history.push_back(event.clone());
        let _ = self.tx.send(event);
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Fill in server-set metadata for a new object (not stored).
    pub(crate) fn prepare_new(
        &mut self,
        res: &'static Resource,
        ns: &str,
        mut obj: Value,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body is not a JSON object"));
        }
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        let meta = obj["metadata"].as_object_mut().expect("an object");
        if meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            let Some(prefix) = meta.get("generateName").and_then(Value::as_str) else {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    format!(
                        "{} is invalid: metadata.name: Required value: name or generateName is required",
                        res.kind
                    ),
                ));
            };
            self.name_seq += 1;
            let name = format!("{prefix}{}", suffix(self.name_seq));
            meta.insert("name".into(), json!(name));
        }
        if res.namespaced {
            match meta.get("namespace").and_then(Value::as_str) {
                Some(given) if !given.is_empty() && given != ns => {
                    return Err(ApiError::bad_request(format!(
                        "the namespace of the provided object ({given}) does not match the namespace sent on the request ({ns})"
                    )));
                }
                _ => {
                    meta.insert("namespace".into(), json!(ns));
                }
            }
        } else {
            meta.remove("namespace");
        }
        self.uid += 1;
        meta.insert(
            "uid".into(),
            json!(format!("00000000-0000-4000-8000-{:012x}", self.uid)),
        );
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        meta.insert("generation".into(), json!(1));
        meta.remove("resourceVersion");
        meta.remove("deletionTimestamp");
        meta.remove("managedFields");
        Ok(obj)
    }

    /// Store a prepared new object.
    pub(crate) fn insert(&mut self, res: &'static Resource, obj: Value) -> Result<Value, ApiError> {
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let key = (res, ns.clone(), name.clone());
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(res, &name));
        }
        let mut obj = obj;
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.objects.insert(key, obj.clone());
        self.emit(Event {
            rv,
            res,
            ns,
            kind: EventType::Added,
            object: obj.clone(),
            old: None,
        });
        Ok(obj)
    }

    /// Store a new version of an existing object (the caller checked preconditions). Returns the
    /// stored object; writes nothing when nothing changed (as the API server does).
    pub(crate) fn put(&mut self, res: &'static Resource, mut obj: Value) -> Value {
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let key = (res, ns.clone(), name);
        let old = self.objects.get(&key).cloned();
        if let Some(old) = &old {
            obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
            if *old == obj {
                return obj;
            }
        }
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.objects.insert(key, obj.clone());
        let kind = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.emit(Event {
            rv,
            res,
            ns,
            kind,
            object: obj.clone(),
            old,
        });
        obj
    }

    /// Remove an object for good.
    pub(crate) fn remove(&mut self, res: &'static Resource, ns: &str, name: &str) -> Option<Value> {
        let mut obj = self
            .objects
            .remove(&(res, ns.to_owned(), name.to_owned()))?;
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        if let Some(uid) = obj["metadata"]["uid"].as_str() {
            self.timers.ready_at.remove(uid);
            self.timers.remove_at.remove(uid);
        }
        self.emit(Event {
            rv,
            res,
            ns: ns.to_owned(),
            kind: EventType::Deleted,
            object: obj.clone(),
            old: None,
        });
        Some(obj)
    }

    /// Modify a stored object in place with `f`; writes (and bumps the resourceVersion) only
    /// when `f` changed something.
    pub(crate) fn update(&mut self, key: &Key, f: impl FnOnce(&mut Value)) -> Option<Value> {
        let mut obj = self.objects.get(key)?.clone();
        f(&mut obj);
        Some(self.put(key.0, obj))
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

/// A five-character name suffix, as `generateName` and controllers use.
pub(crate) fn suffix(n: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5bd1e995;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// `spec` and everything else except metadata and status: what bumps `metadata.generation`.
pub(crate) fn generation_part(obj: &Value) -> Map<String, Value> {
    let mut m = obj.as_object().cloned().unwrap_or_default();
    m.remove("metadata");
    m.remove("status");
    m.remove("apiVersion");
    m.remove("kind");
    m
}
