//! The pipeline as the spec describes it: which stages an event runs
//! (`trigger`), that plan as text, JSON and step outputs (`plan`), and how a
//! run's stages ended (`outcome`), and what a run would refuse before it
//! starts (`preflight`). All pure; the `ci` stage does the I/O.

pub mod outcome;
pub mod plan;
pub mod preflight;
pub mod trigger;
