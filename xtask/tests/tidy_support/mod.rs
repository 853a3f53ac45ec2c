//! Helpers of the tidy tests (sources as text, the module graph) and the
//! tidy tests about module layering and documents.

pub mod docs;
pub mod modgraph;
pub mod modules;
pub mod source;
