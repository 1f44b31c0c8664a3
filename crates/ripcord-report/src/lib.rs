//! Rendering for people and tools. Pure functions from data to text.
//!
//! - [`dry_run`]: what a dry run would change and what it could not check.
//! - [`plan`]: a [`ripcord_spec::plan::Plan`] as text (100 columns), JSON, Mermaid or DOT.
//! - [`summary`]: the end-of-run summary of a journal: per-step status, timing, RTO.
//! - [`timeline`]: postmortem timelines (Markdown, HTML with an SVG Gantt, JSON), drill
//!   comparisons and Prometheus textfile metrics of a run.

#![warn(missing_docs)]

pub mod dry_run;
pub mod plan;
pub mod summary;
mod text;
pub mod timeline;
