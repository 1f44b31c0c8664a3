//! Secret redaction by construction: every string bound for the journal, the terminal or a
//! report passes through a [`Redactor`] built from the run's secret params.

use ripcord_spec::params::REDACTED;

/// Replaces every occurrence of any secret value with `***`.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Secrets shorter than 4 characters are still redacted; empty ones are ignored.
    pub fn new(mut secrets: Vec<String>) -> Self {
        secrets.retain(|s| !s.is_empty());
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    /// Whether there are no secrets to redact.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Bytes of the longest secret: keep this much beyond any cut, redact, then cut, and no
    /// part of a secret survives at the edge.
    pub fn max_len(&self) -> usize {
        self.secrets.first().map_or(0, String::len)
    }

    /// Redact, then keep at most `max` bytes (on a character boundary). `bytes` should extend
    /// [`Redactor::max_len`] past `max` when it was itself cut.
    pub fn redact_then_cut(&self, text: &str, max: usize) -> (String, bool) {
        let mut red = self.text(text);
        if red.len() <= max {
            return (red, false);
        }
        let mut end = max;
        while !red.is_char_boundary(end) {
            end -= 1;
        }
        red.truncate(end);
        (red, true)
    }

    /// `text` with every secret replaced by `***`.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }

    /// Redact every string (keys included) inside a JSON value.
    pub fn json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value as J;
        if self.secrets.is_empty() {
            return value.clone();
        }
        match value {
            J::String(s) => J::String(self.text(s)),
            J::Array(items) => J::Array(items.iter().map(|i| self.json(i)).collect()),
            J::Object(map) => J::Object(
                map.iter()
                    .map(|(k, v)| (self.text(k), self.json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_everywhere_in_json() {
        let r = Redactor::new(vec!["hunter2".into(), "".into()]);
        let v = serde_json::json!({"a": "pw=hunter2!", "hunter2": ["x hunter2"]});
        assert_eq!(
            r.json(&v),
            serde_json::json!({"a": "pw=***!", "***": ["x ***"]})
        );
    }
}
