//! The `rmapcheck` checker: the model as a stateright [`model::RmapModel`],
//! configurations ([`settings`]), searches ([`search`]), counterexample
//! traces ([`trace`]), scenario runs ([`run`]) and reports ([`report`]).

#![warn(missing_docs)]

pub mod bfs;
pub mod features;
pub mod guided;
pub mod model;
pub mod mthp;
pub mod novelty;
pub mod report;
pub mod run;
pub mod search;
pub mod settings;
pub mod summary;
pub mod swarm;
pub mod trace;
