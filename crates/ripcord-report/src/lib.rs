//! Rendering for people and tools. Pure functions from data to text.
//!
//! - [`plan`]: a [`ripcord_spec::plan::Plan`] as text (100 columns), JSON, Mermaid or DOT.

pub mod plan;
mod text;
