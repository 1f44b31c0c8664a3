//! Pass 2, params: names usable in templates, each declaration's typed structure, and defaults
//! that fit their type and `enum` (a secret has none).
//!
//! Runs before the steps so that the references pass can check `params.<name>` against what
//! is declared; when `params` itself is unusable, that check is skipped rather than reporting
//! every use.

use indexmap::IndexMap;

use super::Validator;
use crate::diagnostic::{Code, Diagnostic};
use crate::model::{Param, ParamType};
use crate::node::{Node, Value};
use crate::template;

impl Validator {
    pub(super) fn decode_params(&mut self, root: &Node) -> Option<IndexMap<String, Param>> {
        let mut params = IndexMap::new();
        let Some(node) = root.get("params") else {
            return Some(params);
        };
        let entries = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => return Some(params),
            other => {
                self.push(
                    Diagnostic::error(
                        Code::WrongType,
                        node.span,
                        format!("`params` must be a mapping, found {}", other.kind()),
                    )
                    .label("expected `name: {type: ...}` entries"),
                );
                return None;
            }
        };
        let mut ok = true;
        for (key, value) in entries {
            let name = key.scalar_text();
            if !template::is_identifier(&name) {
                ok = false;
                self.push(
                    Diagnostic::error(
                        Code::BadValue,
                        key.span,
                        format!("invalid param name `{name}`"),
                    )
                    .label("used in templates as `params.<name>`")
                    .help("use letters, digits and `_`, not starting with a digit"),
                );
            }
            match self.decode::<Param>(value) {
                Some(param) => {
                    self.check_param(&name, &param, value);
                    params.insert(name, param);
                }
                None => ok = false,
            }
        }
        ok.then_some(params)
    }

    /// A default must fit its param: no default for a secret, the declared type, one of `enum`.
    fn check_param(&mut self, name: &str, param: &Param, node: &Node) {
        if let Some(default) = &param.default {
            let span = node.get("default").map_or(node.span, |n| n.span);
            if param.param_type == ParamType::Secret {
                self.push(
                    Diagnostic::error(
                        Code::BadParam,
                        span,
                        format!("secret param `{name}` has a default"),
                    )
                    .label("a default would store the secret in the runbook")
                    .help("remove the default and pass it at run time: `-p name=...` or RIPCORD_PARAM_<NAME>"),
                );
            } else if let Err(why) = crate::params::check_value(param.param_type, default) {
                self.push(
                    Diagnostic::error(
                        Code::BadParam,
                        span,
                        format!(
                            "default of `{name}` is not a {}: {why}",
                            param.param_type.as_str()
                        ),
                    )
                    .label("wrong type")
                    .help(format!("give a {} value", param.param_type.as_str())),
                );
            } else if let Some(allowed) = &param.allowed
                && !allowed.contains(default)
            {
                self.push(
                    Diagnostic::error(
                        Code::BadParam,
                        span,
                        format!("default of `{name}` is not one of its `enum` values"),
                    )
                    .label("not allowed")
                    .help("add it to `enum` or pick an allowed default"),
                );
            }
        }
    }
}
