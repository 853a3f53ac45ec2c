//! Thin wrappers around system calls that have effects: spawning processes
//! ([`cmd`], the only module allowed to) and mounting file systems ([`mount`]).

pub mod cmd;
pub mod cpu;
pub mod lowmem;
pub mod mount;
