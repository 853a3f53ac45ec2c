//! Helpers of the tidy tests: sources as text, and the module graph.

pub mod modgraph;
pub mod source;
