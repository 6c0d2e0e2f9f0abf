//! The xtask's integration tests: one binary (cargo builds and links the
//! support once), a module per subject. A test runs as `MODULE::name`;
//! `cargo xtask test` runs each suite of `xtask/src/suites.rs` as this
//! binary filtered to its modules.

mod support;

mod admission;
mod affected;
mod bad_input;
mod cache;
mod canary;
mod ci_stage;
mod deploy_stage;
mod doc_pages;
mod environments;
mod fixture_sweep;
mod floors;
mod image_buildx;
mod image_path;
mod image_stage;
mod manifests_cluster;
mod manifests_stage;
mod perf_stage;
mod platform_attacks;
mod previews;
mod quality_stage;
mod real_images;
mod real_node;
mod release_stage;
mod services;
mod smoke_checks;
mod supply_chain;
mod telemetry;
mod test_stage;
mod tidy;
mod verify_status;
