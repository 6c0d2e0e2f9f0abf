//! `cargo xtask manifests validate [ENV...]`, and the same checks as tasks of
//! the quality stage: per environment, its objects rendered once (a
//! preparation), then
//! - `manifests-schema:ENV`: kubernetes-validate, strict (unknown fields are errors), offline;
//! - `manifests-rules:ENV`: our rules (`cargo xtask manifests rules ENV`);
//! - `manifests-dry-run:ENV`: `kubectl apply --server-side --dry-run=server`,
//!   when a cluster is configured.

use crate::component::Workspace;
use crate::exec::{Log, Prepare};
use crate::findings::Finding;
use crate::kube::{self, Cluster, Object};
use crate::manifests::findings::{self, Sources};
use crate::manifests::render::{self, BASE, OVERLAYS};
use crate::manifests::yaml;
use crate::plan::{quote, CacheSpec, ExitPolicy, Task};
use crate::python::EnvSpec;
use anyhow::{Context as _, Result};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use xshell::Shell;

/// kubernetes-validate's own environment (its jsonschema and packaging stay out of the linters').
const SCHEMA_ENV: &str = ".kube-validate";
const SCHEMA_TOOL: &str = "kubernetes-validate";
/// The namespace objects are dry-run in while their own does not exist yet.
const STAND_IN_NAMESPACE: &str = "default";

fn dry_run_file(env: &str) -> String {
    format!("target/xtask/manifests/{env}.dry-run.json")
}

/// What the checks need besides virtualenvs: kubectl, and the cluster if any.
pub struct Validation {
    pub tasks: Vec<Task>,
    pub envs: Vec<EnvSpec>,
    root: PathBuf,
    kubectl: PathBuf,
    cluster: Option<Cluster>,
    pub rendered: Mutex<BTreeSet<String>>,
}

/// The checks of `envs` as tasks. `xtask` is this program (it runs our rules).
pub fn plan(
    ws: &Workspace,
    envs: &[String],
    xtask: &Path,
    kubectl: &Path,
    cluster: Option<Cluster>,
    version: &str,
) -> Validation {
    let tools = EnvSpec::tools(ws, SCHEMA_ENV, &[SCHEMA_TOOL]);
    let mut tasks = Vec::new();
    // What a render is made of: the overlays, the base, every component's manifests, the pins.
    let mut files: Vec<String> = ["deploy/", "tools/"].map(String::from).to_vec();
    files.extend(ws.components.iter().filter_map(|c| c.manifests.as_ref()).map(|m| format!("{}/", m.display())));
    for env in envs {
        // This workspace's pins are not in git's view of the tree: their text is an input of its own.
        let pins = std::fs::read(ws.root.join(render::pinned_file(env)))
            .map_or_else(|_| "none".to_string(), |text| blake3::hash(&text).to_hex().to_string());
        let values = vec![("kubernetes".into(), version.to_string()), ("pins".into(), pins)];
        let inputs = CacheSpec { files: files.clone(), env: Vec::new(), values, names: Vec::new() };
        let rendered = render::rendered_file(env);
        let task = |check: &str, program: PathBuf, args: Vec<String>, needs: Vec<String>, tool| Task {
            id: format!("manifests-{check}:{env}"),
            stage: "manifests",
            component: format!("manifests/{env}"),
            program,
            args,
            env: Vec::new(),
            cwd: ws.root.clone(),
            needs,
            after: None,
            artifact: None,
            exit: ExitPolicy::Tool(tool),
            // A dry run's result depends on the cluster, which is not a file of the tree.
            cache: (check != "dry-run").then(|| inputs.clone()),
        };
        let render = format!("render:{env}");
        let args = ["--strict", "--quiet", "-k", version, &rendered].map(String::from).to_vec();
        tasks.push(task("schema", tools.bin(SCHEMA_TOOL), args, vec![SCHEMA_ENV.into(), render.clone()], SCHEMA_TOOL));
        let args = ["manifests", "rules", env, "--rendered", &rendered, "--json"].map(String::from).to_vec();
        tasks.push(task("rules", xtask.to_path_buf(), args, vec![render.clone()], "xtask"));
        if let Some(c) = &cluster {
            let mut args = c.args();
            let file = dry_run_file(env);
            args.extend(
                ["apply", "--server-side", "--dry-run=server", "--field-manager=xtask", "-f", &file].map(String::from),
            );
            tasks.push(task("dry-run", kubectl.to_path_buf(), args, vec![render, format!("dry-run:{env}")], "kubectl"));
        }
    }
    Validation {
        tasks,
        envs: vec![tools],
        root: ws.root.clone(),
        kubectl: kubectl.to_path_buf(),
        cluster,
        rendered: Mutex::new(BTreeSet::new()),
    }
}

/// The quality stage's share: every environment, dry-run too when KUBECONFIG
/// names a cluster. None when the repo has no overlays.
pub fn for_quality(ws: &Workspace) -> Result<Option<Validation>> {
    if !ws.root.join(OVERLAYS).is_dir() {
        return Ok(None);
    }
    let envs = render::environments(&ws.root)?;
    let xtask = crate::fsutil::own_program()?;
    let cluster = Cluster::configured(None)?;
    Ok(Some(plan(ws, &envs, &xtask, &kube::kubectl()?, cluster, "1.34")))
}

/// A deploy's share: our rules and the composition over the rendered
/// objects; findings are printed and stop the deploy.
pub fn for_deploy(ws: &Workspace, env: &str, objects: &[Object]) -> Result<()> {
    let undeployed = render::undeployed(&ws.root, &render::deployed(ws))?;
    let sources = sources(ws, env)?;
    let base = render::read(&ws.root, BASE)?;
    let found = findings::rules(&sources, env, objects, &undeployed, &base);
    if found.is_empty() {
        return Ok(());
    }
    for f in &found {
        let at = f.line.map_or_else(|| f.file.clone(), |l| format!("{}:{l}", f.file));
        eprintln!("{at}: {} {}", f.code, f.message);
    }
    anyhow::bail!(
        "{env} does not pass validation ({} finding(s) above): fix the manifests, nothing was applied",
        found.len()
    )
}

/// The objects of the dry run: a `List`, with the objects of a namespace the
/// cluster does not have yet moved to a stand-in one (the dry run creates
/// nothing, so their own would not exist for them). Returns the namespaces moved.
fn dry_run_list(objects: &[Object], existing: &[String]) -> (Value, Vec<String>) {
    let mut moved = BTreeSet::new();
    let items: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut v = o.value.clone();
            if let Some(ns) = o.namespace.as_deref().filter(|ns| !existing.iter().any(|e| e == ns)) {
                moved.insert(ns.to_string());
                v["metadata"]["namespace"] = json!(STAND_IN_NAMESPACE);
            }
            v
        })
        .collect();
    (json!({ "apiVersion": "v1", "kind": "List", "items": items }), moved.into_iter().collect())
}

/// Virtualenvs from `inner`; an environment's rendering and dry-run objects from the validation.
pub struct Prep<'a> {
    pub inner: Option<&'a dyn Prepare>,
    pub validation: Option<&'a Validation>,
}

impl Prep<'_> {
    fn ours<'n>(&self, need: &'n str) -> Option<(&Validation, &'n str, &'n str)> {
        let (what, env) = need.split_once(':')?;
        let v = self.validation.filter(|_| what == "render" || what == "dry-run")?;
        Some((v, what, env))
    }

    fn inner(&self) -> Result<&dyn Prepare> {
        self.inner.context("a task needs a virtualenv but none was planned")
    }
}

impl Prepare for Prep<'_> {
    fn label(&self, need: &str) -> String {
        match self.ours(need) {
            Some((_, "render", env)) => render::rendered_file(env),
            Some((_, _, env)) => dry_run_file(env),
            None => self.inner.map_or_else(|| need.to_string(), |p| p.label(need)),
        }
    }

    fn is_fresh(&self, need: &str) -> Result<bool> {
        match self.ours(need) {
            Some(_) => Ok(false),
            None => self.inner()?.is_fresh(need),
        }
    }

    fn commands(&self, need: &str) -> Vec<String> {
        match self.ours(need) {
            Some((v, "render", env)) => vec![format!(
                "{} kustomize {} > {}",
                quote(&v.kubectl.display().to_string()),
                render::source(&v.root, env),
                render::rendered_file(env)
            )],
            Some((_, _, env)) => vec![format!(
                "# {}: its objects as a List, in namespace {STAND_IN_NAMESPACE} where theirs does not exist yet",
                dry_run_file(env)
            )],
            None => self.inner.map(|p| p.commands(need)).unwrap_or_default(),
        }
    }

    /// A render is made of declared files (the tasks' cache inputs); a dry run is never cached.
    fn fingerprint(&self, need: &str) -> Option<String> {
        match self.ours(need) {
            Some((_, "render", _)) => Some("render".into()),
            Some(_) => None,
            None => self.inner?.fingerprint(need),
        }
    }

    fn check(&self) -> Result<()> {
        self.inner.map_or(Ok(()), |p| p.check())
    }

    fn ensure(&self, need: &str, log: &mut Log) -> Result<()> {
        let Some((v, what, env)) = self.ours(need) else { return self.inner()?.ensure(need, log) };
        let sh = Shell::new()?;
        if what == "render" {
            // Once per run, whichever task of the environment starts first.
            let mut done = v.rendered.lock().unwrap_or_else(|p| p.into_inner());
            if done.insert(env.to_string()) {
                let (text, objects) = render::render(&v.root, &sh, &v.kubectl, env).inspect_err(|_| {
                    done.remove(env);
                })?;
                render::write_rendered(&v.root, env, &text)?;
                log.note(&format!("rendered {} objects into {}", objects.len(), render::rendered_file(env)));
            }
            return Ok(());
        }
        let cluster = v.cluster.as_ref().context("a dry run needs a cluster")?;
        cluster.check(&sh, &v.kubectl)?;
        let text = render::read(&v.root, &render::rendered_file(env))?;
        let objects = yaml::objects(&text).map_err(|e| anyhow::anyhow!("line {}: {}", e.line, e.message))?;
        let (list, moved) = dry_run_list(&objects, &cluster.namespaces(&sh, &v.kubectl)?);
        for ns in moved {
            log.note(&format!("namespace {ns} does not exist yet: its objects are dry-run in {STAND_IN_NAMESPACE}"));
        }
        crate::fsutil::write_atomic(&v.root.join(dry_run_file(env)), serde_json::to_string_pretty(&list)?.as_bytes())
    }
}

/// The files an environment is made of (to point findings at).
pub fn sources(ws: &Workspace, env: &str) -> Result<Sources> {
    let root = &ws.root;
    let mut dirs: Vec<PathBuf> = ws.components.iter().filter_map(|c| c.manifests.clone()).collect();
    dirs.extend([
        PathBuf::from("deploy/base"),
        PathBuf::from(OVERLAYS).join(env),
        PathBuf::from(render::pinned_dir(env)),
    ]);
    let mut files = Vec::new();
    for dir in dirs {
        for entry in walkdir::WalkDir::new(root.join(&dir)).sort_by_file_name().into_iter().flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let rel = p.strip_prefix(root).unwrap_or(p).display().to_string();
                files.push((rel, std::fs::read_to_string(p).unwrap_or_default()));
            }
        }
    }
    Ok(Sources::new(&files, env))
}

/// The findings in a manifests check's output (None for other tasks).
pub fn parse(root: &Path, task: &Task, output: &str) -> Option<Result<Vec<Finding>>> {
    let (check, env) = task.id.strip_prefix("manifests-")?.split_once(':')?;
    if check == "rules" {
        return Some(findings::read_rules(output));
    }
    Some((|| {
        let text = render::read(root, &render::rendered_file(env))?;
        let objects = yaml::objects(&text).map_err(|e| anyhow::anyhow!("line {}: {}", e.line, e.message))?;
        // Only a task that ran reaches here, so discovering the workspace again is rare.
        let sources = sources(&Workspace::discover(root)?, env)?;
        Ok(match check {
            "schema" => findings::kubernetes_validate(output, &sources, &objects),
            _ => findings::dry_run(output, &sources, &objects),
        })
    })())
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
