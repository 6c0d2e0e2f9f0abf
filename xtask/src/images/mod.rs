//! Container images: the tag policy (`tags`), registries and their
//! credentials (`registry`), build contexts (`context`), what must hold before
//! a run (`checks`), the images report (`report`), the builder and its cache
//! (`buildx`) and the build and push plan with its review (`plan`).

pub mod buildx;
pub mod checks;
pub mod context;
pub mod plan;
pub mod registry;
pub mod report;
pub mod tags;

use crate::plan::Task;

/// Is this task a `docker push`?
pub fn is_push(task: &Task) -> bool {
    task.args.first().is_some_and(|a| a == "push")
}

/// The digest `docker push` reports (`<tag>: digest: sha256:… size: N`).
pub fn pushed_digest(output: &str) -> Option<String> {
    output
        .split_whitespace()
        .skip_while(|w| *w != "digest:")
        .nth(1)
        .filter(|d| d.starts_with("sha256:"))
        .map(String::from)
}
