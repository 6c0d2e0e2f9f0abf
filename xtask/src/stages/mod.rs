//! One folder per command: each turns its arguments into calls of the domain
//! modules below and reports. No stage imports another (a tidy test checks):
//! `ci` runs the others as child processes of this binary.

pub mod cache;
pub mod canary;
pub mod ci;
pub mod components;
pub mod deploy;
pub mod doctor;
pub mod image;
pub mod logs;
pub mod manifests;
pub mod node;
pub mod perf;
pub mod quality;
pub mod rollback;
pub mod services;
pub mod status;
pub mod test;
pub mod undeploy;
pub mod verify;
pub mod workflows;
