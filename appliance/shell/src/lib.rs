//! `appliance-shell`: root's login shell on the reference appliance, a
//! small line-oriented console (docs/appliance.md, "Root's console").
//!
//! A line is parsed ([`parse`], pure and total) into a command, the command
//! becomes a [`plan::Plan`] (pure: a warning, a yes/no question, one
//! action), and the executor ([`exec`]) carries it out; every process it
//! starts goes through [`sys`]. `status` ([`status`]) and `support`
//! ([`support`]) read the appliance's state with `appliance-config`'s
//! helpers, the same the console text above the login prompt uses.

pub mod exec;
pub mod input;
pub mod parse;
pub mod plan;
pub mod status;
pub mod support;
pub mod sys;
