//! Performance gates: a component's scenarios (`components/<c>/perf.toml`),
//! the base tree they are compared with, the services and samples of one
//! run, and the verdict on each scenario (pure, over recorded samples).

pub mod judge;
pub mod report;
pub mod run;
pub mod schedule;
pub mod service;
pub mod spec;
pub mod tree;
