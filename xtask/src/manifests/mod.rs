//! Kubernetes manifests as this project keeps them: the environments and their
//! render (`render`), line-based edits of kustomizations (`edit`), which images
//! to pin from the images report (`pins`), a pull request's preview environment (`preview`), our rules over rendered objects
//! (`rules`), the smoke checks a render carries (`checks`), every tool's output as findings pointed at the file to fix
//! (`findings`), and validation's plan (`validate`).

pub mod checks;
pub mod edit;
pub mod findings;
pub mod pins;
pub mod preview;
pub mod render;
pub mod rules;
pub mod validate;
pub mod yaml;
