//! Label selectors (string form and `matchLabels`/`matchExpressions`) and field selectors.

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; empty matches everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSelector(Vec<Req>);

impl LabelSelector {
    /// Parse `a=b,c!=d,e in (x,y),f notin (z),g,!h`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in split_top(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            reqs.push(parse_req(part)?);
        }
        Ok(Self(reqs))
    }

    /// From a `LabelSelector` object (`matchLabels`, `matchExpressions`). `null` matches
    /// nothing (as the API does for a missing PDB or Service selector); `{}` matches everything.
    pub fn from_object(value: &Value) -> Result<Option<Self>, String> {
        let Some(obj) = value.as_object() else {
            return Ok(None);
        };
        let mut reqs = Vec::new();
        if let Some(labels) = obj.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                reqs.push(Req::Eq(
                    k.clone(),
                    v.as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
        if let Some(exprs) = obj.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e["key"].as_str().unwrap_or_default().to_owned();
                let values: Vec<String> = e["values"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                reqs.push(match e["operator"].as_str().unwrap_or_default() {
                    "In" => Req::In(key, values),
                    "NotIn" => Req::NotIn(key, values),
                    "Exists" => Req::Exists(key),
                    "DoesNotExist" => Req::NotExists(key),
                    other => return Err(format!("unknown selector operator {other:?}")),
                });
            }
        }
        Ok(Some(Self(reqs)))
    }

    /// A selector of `key=value` pairs (a Service's `spec.selector`).
    pub fn from_map(value: &Value) -> Option<Self> {
        let map = value.as_object()?;
        if map.is_empty() {
            return None;
        }
        Some(Self(
            map.iter()
                .map(|(k, v)| Req::Eq(k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect(),
        ))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        self.matches_labels(&object["metadata"]["labels"])
    }

    pub fn matches_labels(&self, labels: &Value) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::NotEq(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }
}

/// Split on commas that are not inside parentheses.
fn split_top(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_req(part: &str) -> Result<Req, String> {
    let set = |rest: &str| -> Result<Vec<String>, String> {
        let rest = rest.trim();
        let inner = rest
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| format!("invalid label selector {part:?}: expected (values)"))?;
        Ok(inner
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect())
    };
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Req::NotExists(check_key(key.trim(), part)?));
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Req::NotEq(check_key(k.trim(), part)?, v.trim().to_owned()));
    }
    if let Some((k, v)) = part.split_once("==") {
        return Ok(Req::Eq(check_key(k.trim(), part)?, v.trim().to_owned()));
    }
    if let Some((k, v)) = part.split_once('=') {
        return Ok(Req::Eq(check_key(k.trim(), part)?, v.trim().to_owned()));
    }
    if let Some((k, rest)) = part.split_once(" notin ") {
        return Ok(Req::NotIn(check_key(k.trim(), part)?, set(rest)?));
    }
    if let Some((k, rest)) = part.split_once(" in ") {
        return Ok(Req::In(check_key(k.trim(), part)?, set(rest)?));
    }
    Ok(Req::Exists(check_key(part.trim(), part)?))
}

fn check_key(key: &str, part: &str) -> Result<String, String> {
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(key.to_owned())
    } else {
        Err(format!(
            "unable to parse requirement: invalid label key {key:?} in {part:?}"
        ))
    }
}

/// A parsed field selector: `path=value`, `path==value`, `path!=value`, comma-separated.
#[derive(Clone, Debug, Default)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parse against the field labels `supported` for the resource (others are refused with
    /// the API server's message).
    pub fn parse(text: &str, kind: &str, supported: &[&str]) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (path, eq, value) = if let Some((p, v)) = part.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = part.split_once("==") {
                (p, true, v)
            } else if let Some((p, v)) = part.split_once('=') {
                (p, true, v)
            } else {
                return Err(format!("invalid selector: {part:?}; can't understand it"));
            };
            let path = path.trim();
            if !supported.contains(&path) {
                return Err(format!(
                    "field label not supported: {path} (for {kind}, supported: {})",
                    supported.join(", ")
                ));
            }
            reqs.push((path.to_owned(), eq, value.trim().to_owned()));
        }
        Ok(Self(reqs))
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, eq, value)| {
            let mut cur = object;
            for seg in path.split('.') {
                cur = &cur[seg];
            }
            let actual = match cur {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Null => match path.as_str() {
                    "spec.unschedulable" => "false".into(),
                    _ => String::new(),
                },
                other => other.to_string(),
            };
            (actual == *value) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_forms() {
        let pod = json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}});
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web, db)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("app=web,tier=be", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&pod),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("a b=c").is_err());
    }

    #[test]
    fn field_selector() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "node-1"}});
        let sel = FieldSelector::parse("spec.nodeName=node-1", "Pod", &["spec.nodeName"]).unwrap();
        assert!(sel.matches(&pod));
        let sel = FieldSelector::parse("spec.nodeName!=node-1", "Pod", &["spec.nodeName"]).unwrap();
        assert!(!sel.matches(&pod));
        assert!(FieldSelector::parse("spec.x=1", "Pod", &["spec.nodeName"]).is_err());
    }
}
