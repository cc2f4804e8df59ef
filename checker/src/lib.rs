//! The `rmapcheck` checker: the model as a stateright [`model::RmapModel`],
//! configurations ([`settings`]), searches ([`search`]), counterexample
//! traces ([`trace`]), scenario runs ([`run`]) and reports ([`report`]).

#![warn(missing_docs)]

pub mod check;
pub mod explore;
pub mod features;
pub mod report;
pub mod run;
pub mod search;
pub mod settings;
pub mod strategy;
pub mod summary;
pub mod trace;
