//! The services the pipeline runs on this machine for its tests and local
//! deploys. For now the real worker node of the local cluster (`node`, with
//! its helpers `node_*`) and its DNS (`coredns`); the control plane, the
//! registry and the Docker engine are still started by `.ci/` scripts.

pub mod coredns;
pub mod node;
mod node_config;
mod node_files;
mod node_proc;
mod node_state;
mod node_sweep;
