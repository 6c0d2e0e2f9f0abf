//! Preview environments as the manifests see them (pure): a pull request's
//! environment `pr-<N>` is development's overlay rendered into a namespace of
//! its own (`mlops-pr-<N>`), from a kustomization generated in the workspace
//! (`target/xtask/overlays/pr-<N>`, never under deploy/), with its own images,
//! a small data claim, no scheduled feature job, and a ResourceQuota and a
//! LimitRange so one preview cannot starve the node.

use crate::manifests::edit::{self, Pin};
use crate::manifests::pins::{self, Built};
use crate::manifests::rules::ImageRef;
use anyhow::Result;

/// The environment a preview is rendered from.
pub const BASE_ENV: &str = "development";
/// The label every object of a preview carries (its namespace too): the pull request's number.
pub const LABEL: &str = "xtask.dev/preview";
/// The data claim's size in a preview: small, deleted with it.
pub const CLAIM_SIZE: &str = "256Mi";

/// A preview's share of the node: what its ResourceQuota allows in all.
/// Sized for development's two Deployments during a rolling update (one
/// surge pod each) plus the three smoke Jobs at once.
pub const QUOTA: [(&str, &str); 7] = [
    ("requests.cpu", "300m"),
    ("requests.memory", "768Mi"),
    ("limits.cpu", "2"),
    ("limits.memory", "3Gi"),
    ("pods", "10"),
    ("persistentvolumeclaims", "1"),
    ("requests.storage", "512Mi"),
];

/// `pr-<N>`.
pub fn env_name(pr: u64) -> String {
    format!("pr-{pr}")
}

/// The namespace of preview `pr`.
pub fn namespace(pr: u64) -> String {
    format!("mlops-{}", env_name(pr))
}

/// The pull request's number of a preview environment's name (`pr-7` → 7).
pub fn number(env: &str) -> Option<u64> {
    let digits = env.strip_prefix("pr-")?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A stable preview id for a local branch: its name hashed into 100000..=999999,
/// above the numbers a repository's pull requests reach in practice.
pub fn branch_id(branch: &str) -> u64 {
    let hash = blake3::hash(branch.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    100_000 + u64::from_le_bytes(first) % 900_000
}

/// The generated folder of preview `pr`'s render (where `manifests update`
/// keeps an environment's pins, so every render and deploy finds it).
pub fn dir(pr: u64) -> String {
    format!("target/xtask/overlays/{}", env_name(pr))
}

/// The files of preview `pr`'s kustomization (name, text), over development's
/// committed overlay, `pins` as the overlay's render names the images.
pub fn files(pr: u64, pins: &[Pin]) -> Result<Vec<(String, String)>> {
    let (env, ns) = (env_name(pr), namespace(pr));
    let head = format!(
        "# Preview {env} of pull request {pr}, written by `cargo xtask preview up`: development's
# overlay in namespace {ns}, with the pull request's images, a small data claim,
# no scheduled job and a quota. Never committed; `cargo xtask preview down` removes it.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {ns}
resources:
  - ../../../../deploy/overlays/{BASE_ENV}
  - quota.yaml
labels:
  - pairs:
      mlops.dev/environment: {env}
      app.kubernetes.io/managed-by: xtask
      {LABEL}: \"{pr}\"
    includeTemplates: true
patches:
  - target: {{kind: PersistentVolumeClaim, name: mlops-data}}
    patch: |-
      - op: replace
        path: /spec/resources/requests/storage
        value: {CLAIM_SIZE}
  - target: {{kind: CronJob}}
    patch: |-
      - op: add
        path: /spec/suspend
        value: true
"
    );
    let kustomization = if pins.is_empty() { head } else { edit::pin_images(&head, pins)? };
    Ok(vec![("kustomization.yaml".into(), kustomization), ("quota.yaml".into(), quota())])
}

/// The ResourceQuota and the LimitRange (defaults for a container that sets
/// nothing, so the quota can count it; a ceiling per container).
fn quota() -> String {
    let hard: String = QUOTA.iter().map(|(k, v)| format!("    {k}: \"{v}\"\n")).collect();
    format!(
        "apiVersion: v1
kind: ResourceQuota
metadata:
  name: preview
spec:
  hard:
{hard}---
apiVersion: v1
kind: LimitRange
metadata:
  name: preview
spec:
  limits:
    - type: Container
      defaultRequest: {{cpu: 10m, memory: 64Mi}}
      default: {{cpu: 200m, memory: 256Mi}}
      max: {{cpu: \"1\", memory: 1Gi}}
"
    )
}

/// Where a preview's image of a component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Built for the pull request's commit (the images report: an affected component).
    Built,
    /// What main's last verified release of development runs (revision).
    Main(u64),
    /// Neither: the image as development's overlay names it.
    Overlay,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Built => f.write_str("built for this commit"),
            Origin::Main(r) => write!(f, "main's last verified release ({BASE_ENV} revision {r})"),
            Origin::Overlay => write!(f, "as {BASE_ENV}'s overlay names it (no build of it and no verified release)"),
        }
    }
}

/// One component's image in a preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub component: String,
    pub pin: Option<Pin>,
    pub origin: Origin,
}

/// The image of each of `wanted` (component, image its manifests name): this
/// commit's build from the report when there is one, else the image main's
/// last verified release runs (`main`: its revision and its images as
/// (component, reference)), else none.
pub fn choose(
    wanted: &[(String, String)],
    report: &[Built],
    head: &str,
    main: Option<(u64, &[(String, String)])>,
) -> Vec<Chosen> {
    wanted
        .iter()
        .map(|(component, name)| {
            let built = report.iter().filter(|b| b.revision == head).find(|b| &b.component == component);
            if let Some((image, tag, digest)) = built.and_then(pins::choose) {
                let pin = Pin { name: name.clone(), new_name: Some(image), new_tag: tag, digest };
                return Chosen { component: component.clone(), pin: Some(pin), origin: Origin::Built };
            }
            let running = main.and_then(|(rev, images)| {
                let (_, reference) = images.iter().find(|(c, _)| c == component)?;
                Some((rev, ImageRef::parse(reference)))
            });
            match running {
                Some((rev, r)) => {
                    let tag = r.tag.unwrap_or_else(|| "latest".into());
                    let pin = Pin { name: name.clone(), new_name: Some(r.name), new_tag: tag, digest: r.digest };
                    Chosen { component: component.clone(), pin: Some(pin), origin: Origin::Main(rev) }
                }
                None => Chosen { component: component.clone(), pin: None, origin: Origin::Overlay },
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "preview_tests.rs"]
mod tests;
