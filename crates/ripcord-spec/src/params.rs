//! Parameter values: parsing `-p name=value`, defaults, enums, secrets.

use indexmap::IndexMap;
use serde::Serialize;

use crate::model::{Param, ParamType};
use crate::suggest::closest;
use crate::values::HumanDuration;

/// Shown instead of a secret everywhere.
pub const REDACTED: &str = "***";
/// Shorter secrets are refused: redacting them would mangle ordinary text.
pub const MIN_SECRET_LEN: usize = 4;

/// Where a parameter's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Given,
    Env,
    Default,
}

/// A resolved parameter value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParamValue {
    pub value: serde_json::Value,
    pub secret: bool,
    pub source: Source,
}

/// All parameters of a run, resolved. Secrets are inside; use [`Params::redacted`] for display.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params(pub IndexMap<String, ParamValue>);

impl Params {
    /// Values for templates, secrets included (rendering for execution only).
    pub fn values(&self) -> serde_json::Map<String, serde_json::Value> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect()
    }

    /// Values with every secret replaced by [`REDACTED`]: safe to print, plan and journal.
    pub fn redacted(&self) -> serde_json::Map<String, serde_json::Value> {
        self.0
            .iter()
            .map(|(k, v)| {
                let value = if v.secret {
                    serde_json::Value::String(REDACTED.into())
                } else {
                    v.value.clone()
                };
                (k.clone(), value)
            })
            .collect()
    }

    /// The secret strings, so output can be scrubbed of them wherever they appear.
    pub fn secrets(&self) -> Vec<String> {
        self.0
            .values()
            .filter(|v| v.secret)
            .filter_map(|v| v.value.as_str().map(str::to_owned))
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// A parameter problem: unknown name, bad value, missing value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("unknown param `{name}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    Unknown {
        name: String,
        suggestion: Option<String>,
    },
    #[error("param `{name}`: {reason}")]
    Invalid { name: String, reason: String },
    #[error("param `{name}` is required: pass `-p {name}=...` or set RIPCORD_PARAM_{}", name.to_ascii_uppercase())]
    Missing { name: String, secret: bool },
    #[error("`{given}` is not `name=value`")]
    Syntax { given: String },
}

/// Split `name=value` arguments.
pub fn parse_assignments(args: &[String]) -> Result<Vec<(String, String)>, ParamError> {
    args.iter()
        .map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| ParamError::Syntax { given: a.clone() })
        })
        .collect()
}

/// Resolve every declared parameter from given values, then `env(name)`, then defaults.
pub fn resolve(
    declared: &IndexMap<String, Param>,
    given: &[(String, String)],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Params, Vec<ParamError>> {
    let mut errors = Vec::new();
    for (name, _) in given {
        if !declared.contains_key(name) {
            errors.push(ParamError::Unknown {
                name: name.clone(),
                suggestion: closest(name, declared.keys().map(String::as_str)).map(str::to_owned),
            });
        }
    }
    let mut out = IndexMap::new();
    for (name, param) in declared {
        let secret = param.param_type == ParamType::Secret;
        let text = given
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| (v.clone(), Source::Given))
            .or_else(|| env(name).map(|v| (v, Source::Env)));
        let value = match text {
            // A very short secret would be "redacted" inside ordinary words everywhere.
            Some((text, _)) if secret && text.chars().count() < MIN_SECRET_LEN => {
                errors.push(ParamError::Invalid {
                    name: name.clone(),
                    reason: format!("secret values must be at least {MIN_SECRET_LEN} characters"),
                });
                continue;
            }
            Some((text, source)) => match parse_value(param.param_type, &text) {
                Ok(v) => Some((v, source)),
                Err(reason) => {
                    errors.push(ParamError::Invalid {
                        name: name.clone(),
                        reason: if secret {
                            "invalid value".into()
                        } else {
                            reason
                        },
                    });
                    continue;
                }
            },
            None => param.default.clone().map(|d| (d, Source::Default)),
        };
        let Some((value, source)) = value else {
            if param.required {
                errors.push(ParamError::Missing {
                    name: name.clone(),
                    secret,
                });
            } else {
                out.insert(
                    name.clone(),
                    ParamValue {
                        value: empty_value(param.param_type),
                        secret,
                        source: Source::Default,
                    },
                );
            }
            continue;
        };
        if let Some(allowed) = &param.allowed
            && !allowed.contains(&value)
        {
            let list: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
            errors.push(ParamError::Invalid {
                name: name.clone(),
                reason: format!("must be one of {}", list.join(", ")),
            });
            continue;
        }
        out.insert(
            name.clone(),
            ParamValue {
                value,
                secret,
                source,
            },
        );
    }
    if errors.is_empty() {
        Ok(Params(out))
    } else {
        Err(errors)
    }
}

/// The value an optional parameter without default takes.
fn empty_value(t: ParamType) -> serde_json::Value {
    match t {
        ParamType::List => serde_json::Value::Array(Vec::new()),
        ParamType::Bool => serde_json::Value::Bool(false),
        _ => serde_json::Value::Null,
    }
}

/// Parse a command-line value as a parameter type.
pub fn parse_value(t: ParamType, text: &str) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    match t {
        ParamType::String | ParamType::Secret => Ok(J::String(text.to_owned())),
        ParamType::Int => text
            .trim()
            .parse::<i64>()
            .map(J::from)
            .map_err(|_| format!("`{text}` is not an integer")),
        ParamType::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Ok(J::Bool(true)),
            "false" | "no" | "0" | "off" => Ok(J::Bool(false)),
            _ => Err(format!("`{text}` is not a boolean (true/false)")),
        },
        // Kept as written (`90s` stays `90s`) so it compares equal to `enum` entries.
        ParamType::Duration => text
            .parse::<HumanDuration>()
            .map(|_| J::String(text.trim().to_owned())),
        ParamType::List => Ok(J::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| J::String(s.to_owned()))
                .collect(),
        )),
    }
}

/// Check that a default written in YAML fits the declared type.
pub fn check_value(t: ParamType, value: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value as J;
    let ok = match (t, value) {
        (ParamType::String | ParamType::Secret, J::String(_)) => true,
        (ParamType::Int, J::Number(n)) => n.is_i64(),
        (ParamType::Bool, J::Bool(_)) => true,
        (ParamType::Duration, J::String(s)) => return s.parse::<HumanDuration>().map(|_| ()),
        (ParamType::List, J::Array(_)) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("found {value}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> IndexMap<String, Param> {
        let p = |t, default: Option<serde_json::Value>, required| Param {
            param_type: t,
            description: None,
            default,
            allowed: None,
            required,
        };
        IndexMap::from([
            (
                "bucket".to_string(),
                p(ParamType::String, Some("b".into()), false),
            ),
            ("replicas".to_string(), p(ParamType::Int, None, true)),
            ("token".to_string(), p(ParamType::Secret, None, true)),
        ])
    }

    #[test]
    fn resolves_given_env_and_defaults() {
        let given = vec![("replicas".to_string(), "3".to_string())];
        let params = resolve(&declared(), &given, |n| {
            (n == "token").then(|| "s3cr3t".into())
        })
        .unwrap();
        assert_eq!(params.0["bucket"].value, "b");
        assert_eq!(params.0["replicas"].value, 3);
        assert_eq!(params.0["token"].source, Source::Env);
        assert_eq!(params.redacted()["token"], REDACTED);
        assert_eq!(params.secrets(), vec!["s3cr3t".to_string()]);
    }

    #[test]
    fn reports_every_problem() {
        let given = vec![
            ("replica".to_string(), "3".to_string()),
            ("bucket".to_string(), "x".to_string()),
        ];
        let errors = resolve(&declared(), &given, |_| None).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].to_string().contains("did you mean `replicas`"));
    }
}
