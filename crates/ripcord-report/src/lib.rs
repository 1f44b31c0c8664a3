//! Rendering for people and tools. Pure functions from data to text.
//!
//! - [`plan`]: a [`ripcord_spec::plan::Plan`] as text (100 columns), JSON, Mermaid or DOT.
//! - [`summary`]: the end-of-run summary of a journal: per-step status, timing, RTO.

pub mod plan;
pub mod summary;
mod text;
