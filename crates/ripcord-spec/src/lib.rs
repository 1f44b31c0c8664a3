//! The ripcord runbook language.
//!
//! A runbook is a versioned YAML file: a DAG of typed steps with gates, timing and objectives.
//! This crate is pure (no I/O beyond what callers hand it, no async): it reads the text,
//! reports every problem with its location, and turns a valid runbook into a plan.
//!
//! - [`source`], [`node`]: the text and its YAML tree, every node with its span.
//! - [`decode`]: serde decoding of that tree that keeps locations.
//! - [`model`], [`values`], [`catalog`]: the language's types and its step catalog.
//! - [`validate`]: all checks, rendered by [`diagnostic`]; yields [`Validated`].
//! - [`graph`]: the DAG (waves, ancestors, cycles, heaviest paths).
//! - [`template`]: the minijinja environment shared with the engine.
//! - [`params`]: parameter values from `-p`, the environment and defaults; secrets.
//! - [`plan`]: the dry-run preview and the RTO check.
//! - [`schema`]: the JSON Schema generated from the types.

pub mod catalog;
pub mod decode;
pub mod diagnostic;
pub mod graph;
pub mod model;
pub mod node;
pub mod params;
pub mod plan;
pub mod schema;
pub mod source;
pub mod suggest;
pub mod template;
pub mod validate;
pub mod values;

pub use catalog::{Effect, StepKind, TypedWith};
pub use diagnostic::{Diagnostic, Severity};
pub use model::Runbook;
pub use source::SourceFile;
pub use validate::{Validated, Validation, validate};

/// Hex SHA-256 of bytes (runbook content hashes).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
