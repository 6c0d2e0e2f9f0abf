//! The image stage's part, after its pushes: for every digest pushed, an
//! SBOM made by syft from the image in the registry (what was pushed, not
//! the local build), attached as a signed `spdxjson` attestation; the SLSA v1
//! provenance (`statement::provenance`) as a signed `slsaprovenance1` one;
//! and the digest itself signed. One line per digest; the first failure
//! stops the stage with one line (what failed, which digest, what to do).

use crate::supply::sbom_cache::SbomCache;
use crate::supply::session::Session;
use crate::supply::statement::{self, Build};
use crate::supply::Signer;
use anyhow::{bail, Result};
use std::time::Instant;
use xshell::Shell;

/// syft's settings: files listed per package (the SBOM summary's sizes),
/// without their digests (they would double its size), no update check.
const SYFT_CONFIG: &str =
    "check-for-app-update: false\nfile:\n  metadata:\n    selection: owned-by-package\n    digests: []\n";

/// One pushed digest to attest: `repository@digest` and its build.
pub struct Pushed {
    pub repository: String,
    pub digest: String,
    pub build: Build,
}

impl Pushed {
    pub fn reference(&self) -> String {
        format!("{}@{}", self.repository, self.digest)
    }
}

/// What attesting one digest cost, for the line and the docs' measurements.
pub struct Done {
    pub packages: usize,
    pub sbom_seconds: f64,
    /// The SBOM this machine's syft made earlier for the same digest.
    pub sbom_cached: bool,
    pub sign_seconds: f64,
}

/// SBOM (made by syft, or the one `sboms` kept for this digest),
/// provenance and signature of `p`.
pub fn attest(sh: &Shell, s: &mut Session, signer: &Signer, p: &Pushed, sboms: Option<&SbomCache>) -> Result<Done> {
    let reference = p.reference();
    let config = s.dir.join("syft.yaml");
    if !config.is_file() {
        std::fs::write(&config, SYFT_CONFIG)?;
    }
    let sbom = s.dir.join(format!("sbom-{}.spdx.json", p.digest.trim_start_matches("sha256:")));
    let t = Instant::now();
    let sbom_cached = sboms.is_some_and(|c| c.get(&p.digest, &sbom));
    let args: Vec<String> = vec![
        "scan".into(),
        "-c".into(),
        config.display().to_string(),
        "-q".into(),
        "-o".into(),
        format!("spdx-json={}", sbom.display()),
        format!("registry:{reference}"),
    ];
    if !sbom_cached {
        let syft = s.tools.syft.clone();
        let out = s.cmd(sh, &syft, &args).output()?;
        if !out.status.success() {
            bail!(
                "cannot make the SBOM of {reference}: syft: {}: check that the registry answers and holds it",
                s.why(&out)
            );
        }
        if let Some(c) = sboms {
            c.put(&p.digest, &sbom);
        }
    }
    let packages = crate::supply::sbom::package_count(&std::fs::read_to_string(&sbom).unwrap_or_default());
    let sbom_seconds = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let predicate = s.dir.join(format!("provenance-{}.json", p.digest.trim_start_matches("sha256:")));
    std::fs::write(&predicate, serde_json::to_string_pretty(&statement::provenance(&p.build))?)?;
    let steps: [(&str, Vec<String>); 3] = [
        ("attach the SBOM", attest_args("spdxjson", &sbom.display().to_string())),
        ("attach the provenance", attest_args("slsaprovenance1", &predicate.display().to_string())),
        ("sign", vec!["sign".into()]),
    ];
    for (what, mut args) in steps {
        args.extend(s.sign_flags(signer));
        args.push(reference.clone());
        let out = s.cosign_signing(sh, signer, &args)?;
        if !out.status.success() {
            bail!("cannot {what} for {reference}: cosign: {}: {}", s.why(&out), fix(signer));
        }
    }
    let _ = std::fs::remove_file(&sbom);
    Ok(Done { packages, sbom_seconds, sbom_cached, sign_seconds: t.elapsed().as_secs_f64() })
}

fn attest_args(kind: &str, predicate: &str) -> Vec<String> {
    vec!["attest".into(), "--type".into(), kind.into(), "--predicate".into(), predicate.into()]
}

fn fix(signer: &Signer) -> &'static str {
    match signer {
        Signer::Key { password_file: Some(_), .. } => {
            "check the key pair (`cargo xtask services status signing`) and that the registry answers"
        }
        Signer::Key { .. } => "check the COSIGN_PRIVATE_KEY and COSIGN_PASSWORD secrets and that the registry answers",
        Signer::Keyless => "check that the images job has `permissions: id-token: write`",
    }
}

/// What the image stage hands over after its pushes.
pub struct AfterPush<'a> {
    pub root: &'a std::path::Path,
    pub components: &'a [&'a crate::component::Component],
    /// The stage's plan: each component's build command is its `build:NAME` task.
    pub tasks: &'a [crate::plan::Task],
    pub targets: &'a [crate::images::registry::Target],
    /// This run's tags: the pushes of this run in the images report.
    pub tags: &'a [String],
    pub epoch: i64,
    /// The global base image (`--base-image`/`XTASK_BASE_IMAGE`).
    pub base: Option<&'a str>,
    /// buildx's own Docker config, when buildx built (its version is the builder's).
    pub buildx: Option<&'a std::path::Path>,
}

/// Who signs this run's pushes; bad input when nobody can (checked before pushing).
pub fn signer() -> Result<Signer> {
    let env = |k: &str| std::env::var(k).ok();
    Signer::decide(&env, crate::github::on_github()).ok_or_else(|| {
        crate::error::UsageError::new(format!("cannot push images that cannot be signed: {}", crate::supply::NO_SIGNER))
    })
}

/// Attest and sign every digest this run pushed (`images.json` names them).
pub fn after_push(a: &AfterPush) -> Result<()> {
    use crate::supply::session::Tools;
    let signer = signer()?;
    let report =
        crate::images::report::read(a.root).map_err(|why| anyhow::anyhow!("cannot read the images report ({why})"))?;
    let sh = Shell::new()?;
    sh.change_dir(a.root);
    let mut s = Session::new(Tools::find()?, a.targets)?;
    let builder = builder_versions(&sh, &s, a.buildx);
    let syft = builder.iter().find(|(k, _)| k == "syft").map(|(_, v)| v.as_str()).unwrap_or_default();
    let sboms = SbomCache::new(&crate::services::Dirs::here(), syft, SYFT_CONFIG);
    let repository = crate::supply::verify::source_repository(a.root);
    let now = crate::clock::now_rfc3339();
    println!(
        "signing: {} ({})",
        signer.describe(),
        builder.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
    );
    let t0 = Instant::now();
    let mut count = 0;
    for c in a.components {
        let Some(image) = report.components.get(&c.name) else { continue };
        let command = a
            .tasks
            .iter()
            .find(|t| t.id == format!("build:{}", c.name))
            .map(|t| format!("{} {}", t.program.display(), t.args.join(" ")))
            .unwrap_or_else(|| "(pushed an image built earlier)".into());
        let bases = base_of(&sh, c, a.base);
        let mut done: Vec<(String, String)> = Vec::new();
        for p in image.pushed.iter().filter(|p| a.tags.contains(&p.tag)) {
            if done.contains(&(p.repository.clone(), p.digest.clone())) {
                continue;
            }
            done.push((p.repository.clone(), p.digest.clone()));
            let build = Build {
                component: c.name.clone(),
                repository: repository.clone(),
                commit: image.commit.clone(),
                reference: image.reference.clone(),
                command: command.clone(),
                dockerfile: c.dockerfile.as_ref().map(|d| d.display().to_string()).unwrap_or_default(),
                bases: bases.clone(),
                builder: builder.clone(),
                source_date_epoch: a.epoch,
                reproducible: image.reproducible,
                dirty: image.dirty,
                invocation: invocation(),
                started: now.clone(),
                finished: crate::clock::now_rfc3339(),
            };
            let pushed = Pushed { repository: p.repository.clone(), digest: p.digest.clone(), build };
            let d = attest(&sh, &mut s, &signer, &pushed, sboms.as_ref())?;
            count += 1;
            let made = match d.sbom_cached {
                true => "made earlier for this digest".to_string(),
                false => format!("{:.1}s", d.sbom_seconds),
            };
            println!(
                "signed {}: sbom ({} packages, {made}), provenance (commit {}), signature ({:.1}s)",
                pushed.reference(),
                d.packages,
                &image.commit[..image.commit.len().min(12)],
                d.sign_seconds
            );
        }
    }
    println!("signing: {count} digests attested and signed in {:.1}s", t0.elapsed().as_secs_f64());
    Ok(())
}

fn invocation() -> String {
    match (std::env::var("GITHUB_RUN_ID"), std::env::var("GITHUB_RUN_ATTEMPT")) {
        (Ok(id), Ok(n)) if !id.is_empty() => format!("github-run-{id}-{n}"),
        _ => format!("local-{}-{}", crate::clock::now(), std::process::id()),
    }
}

/// The base image a component builds on, with its image id (what the build took).
fn base_of(sh: &Shell, c: &crate::component::Component, global: Option<&str>) -> Vec<(String, String)> {
    let env = |k: &str| std::env::var(k).ok();
    let name = crate::images::checks::base_image(c, global, &env).map(|(b, _)| b).or_else(|| {
        let text = std::fs::read_to_string(c.dockerfile.as_ref()?).ok()?;
        crate::images::checks::dockerfile_default(&text)
    });
    let Some(name) = name else { return Vec::new() };
    let format = "{{.Id}}";
    let id = xshell::cmd!(sh, "docker image inspect --format {format} {name}").quiet().ignore_stderr().read();
    id.ok().map(|id| vec![(name, id.trim().to_string())]).unwrap_or_default()
}

/// The builder's and the signing tools' versions.
fn builder_versions(sh: &Shell, s: &Session, buildx: Option<&std::path::Path>) -> Vec<(String, String)> {
    let first = |r: Result<String, xshell::Error>| r.ok().and_then(|t| t.lines().next().map(|l| l.trim().to_string()));
    let mut out = Vec::new();
    match buildx {
        Some(config) => {
            let args = ["--config".to_string(), config.display().to_string(), "buildx".into(), "version".into()];
            let v = first(xshell::cmd!(sh, "docker {args...}").quiet().ignore_stderr().read());
            out.push(("buildx".into(), v.unwrap_or_else(|| "unknown".into())));
        }
        None => {
            let format = "{{.Server.Version}}";
            let v = first(xshell::cmd!(sh, "docker version --format {format}").quiet().ignore_stderr().read());
            out.push(("docker build (engine)".into(), v.unwrap_or_else(|| "unknown".into())));
        }
    }
    let json = |p: &std::path::Path, args: &[&str]| -> Option<serde_json::Value> {
        let t = xshell::cmd!(sh, "{p} {args...}").quiet().ignore_stderr().read().ok()?;
        serde_json::from_str(&t).ok()
    };
    let cosign = json(&s.tools.cosign, &["version", "--json"]).and_then(|v| v["gitVersion"].as_str().map(String::from));
    let syft = json(&s.tools.syft, &["version", "-o", "json"]).and_then(|v| v["version"].as_str().map(String::from));
    out.push(("cosign".into(), cosign.unwrap_or_else(|| "unknown".into())));
    out.push(("syft".into(), syft.unwrap_or_else(|| "unknown".into())));
    out
}
