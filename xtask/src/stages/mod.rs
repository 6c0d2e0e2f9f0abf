//! One folder per command: each turns its arguments into calls of the domain
//! modules below and reports. No stage imports another (`tests/floors.rs`
//! checks): `ci` runs the others by their command lines, through the
//! dispatcher `main.rs` hands it, in its own process (those that talk to a
//! cluster as child processes of this binary).

pub mod cache;
pub mod canary;
pub mod ci;
pub mod components;
pub mod deploy;
pub mod docs;
pub mod doctor;
pub mod image;
pub mod logs;
pub mod manifests;
pub mod node;
pub mod perf;
pub mod preview;
pub mod quality;
pub mod rollback;
pub mod services;
pub mod status;
pub mod test;
pub mod undeploy;
pub mod verify;
pub mod workflows;
