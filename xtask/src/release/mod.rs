//! The release flow, above the cluster (`kube`), the manifests and the
//! canary: the guards an environment sets, the images' provenance, the
//! release records on the cluster, how a deploy ends and a rollback, what
//! runs, what undeploy removes, and pull-request previews.

pub mod canary;
pub mod deploy;
pub mod guards;
pub mod history;
pub mod preview;
pub mod provenance;
pub mod records;
pub mod running;
pub mod teardown;
pub mod token;
