//! The `rmapcheck` checker, bottom up: the [`explore::Explorer`] every
//! search drives the model through (successors with coverage, invariants,
//! replay, shrinking); the [`strategy::Strategy`] trait with its one
//! `Limits` and `Outcome`; the strategies, one file each, and their registry
//! ([`search`]), with the structural atoms of two of them ([`features`]);
//! configurations ([`settings`]); running a plan into a report ([`check`],
//! [`report`], [`summary`]); counterexample traces ([`trace`]) and scenario
//! runs ([`run`]); the pictures of a trace and the live progress line
//! ([`views`], [`progress`]); output files and standard output
//! ([`output`]); the input contract a fuzzer checks ([`contract`]).
//! Live-kernel conformance is the `rmapcheck-conform` crate.

#![warn(missing_docs)]

pub mod bench;
pub mod check;
pub mod contract;
pub mod explore;
pub mod features;
pub mod merge;
pub mod output;
pub mod progress;
pub mod report;
pub mod run;
pub mod search;
pub mod settings;
pub mod strategy;
pub mod summary;
pub mod trace;
pub mod views;
