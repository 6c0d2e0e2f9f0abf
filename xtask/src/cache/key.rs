//! What a task's cache key is made of, and one run's use of the cache.
//!
//! A key is the blake3 of the task's named inputs: its id and command line,
//! the contents of the files it declares (as git sees the tree), the values
//! of the environment variables it declares, its other declared values (a
//! base image's id), the fingerprint of each environment it needs (the
//! virtualenv's stamp: interpreter, installer, pins, resolved packages) and,
//! for cargo, the Rust toolchain. Paths are repo-relative, so a checkout
//! anywhere gives the same key.

use crate::cache::{Entry, Limits, Store, FORMAT};
use crate::inputs::{self, Tree};
use crate::plan::Task;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

pub type Inputs = Vec<(String, String)>;

/// The named inputs of a task (sorted), or None when the task is never cached.
/// `tools` are the fingerprints of what it needs; `env` reads a variable.
pub fn inputs(
    task: &Task,
    root: &Path,
    tree: &Tree,
    tools: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
    rust: &dyn Fn() -> String,
) -> Option<Inputs> {
    let spec = task.cache.as_ref()?;
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    out.insert("format".into(), FORMAT.into());
    out.insert("task".into(), task.id.clone());
    out.insert("command".into(), task.command_line(root));
    for files in &spec.files {
        for (path, hash) in tree.under(files) {
            out.insert(format!("file:{path}"), hash.clone());
        }
    }
    for names in &spec.names {
        out.insert(format!("names:{names}"), tree.names_hash(names));
    }
    for var in &spec.env {
        let value = env(var).map_or_else(|| "unset".to_string(), |v| blake3::hash(v.as_bytes()).to_hex().to_string());
        out.insert(format!("env:{var}"), value);
    }
    for (name, value) in &spec.values {
        out.insert(format!("value:{name}"), value.clone());
    }
    for (need, fingerprint) in tools {
        out.insert(format!("tool:{need}"), fingerprint.clone());
    }
    if task.program.file_name().is_some_and(|p| p == "cargo") {
        out.insert("toolchain:rust".into(), rust());
    }
    Some(out.into_iter().collect())
}

/// The key: blake3 over the sorted names and hashes.
pub fn key(inputs: &[(String, String)]) -> String {
    let mut h = blake3::Hasher::new();
    for (name, hash) in inputs {
        h.update(name.as_bytes());
        h.update(b"\0");
        h.update(hash.as_bytes());
        h.update(b"\n");
    }
    h.finalize().to_hex().to_string()
}

/// How the inputs differ, one line per input: `changed`, `added` or `removed`, and its name.
pub fn diff(old: &[(String, String)], new: &[(String, String)]) -> Vec<String> {
    let old: BTreeMap<&str, &str> = old.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let new: BTreeMap<&str, &str> = new.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut out = Vec::new();
    for (name, hash) in &new {
        match old.get(name) {
            None => out.push(format!("added    {name}")),
            Some(h) if h != hash => out.push(format!("changed  {name}")),
            Some(_) => {}
        }
    }
    out.extend(old.keys().filter(|n| !new.contains_key(*n)).map(|n| format!("removed  {n}")));
    out
}

/// A task's inputs worked out before the run, and the success recorded under them.
pub struct Lookup {
    pub inputs: Inputs,
    pub key: String,
    pub hit: Option<Entry>,
}

/// One run's cache: the hashed tree, the store, and whether to read it.
pub struct Session {
    pub root: PathBuf,
    pub store: Store,
    tree: Tree,
    /// `--no-cache`: run everything, but still record successes.
    read: bool,
    rust: OnceLock<String>,
    wrote: AtomicBool,
}

impl Session {
    /// Hash the files `tasks` declare; Err(why) outside a git work tree.
    pub fn open(root: &Path, tasks: &[Task], read: bool) -> Result<Session, String> {
        let listed = inputs::list(root)?;
        let specs: Vec<&str> =
            tasks.iter().flat_map(|t| t.cache.iter().flat_map(|c| &c.files)).map(String::as_str).collect();
        let tree = Tree::hash(root, &listed, &specs);
        Ok(Session::with_tree(root, tree, read))
    }

    pub fn with_tree(root: &Path, tree: Tree, read: bool) -> Session {
        Session {
            root: root.to_path_buf(),
            store: Store::new(root),
            tree,
            read,
            rust: OnceLock::new(),
            wrote: AtomicBool::new(false),
        }
    }

    /// The task's inputs and its recorded success, if any (None: never cached).
    pub fn lookup(&self, task: &Task, tools: &[(String, String)]) -> Option<Lookup> {
        let env = |v: &str| std::env::var(v).ok();
        let rust = || self.rust.get_or_init(inputs::rust_toolchain).clone();
        let inputs = inputs(task, &self.root, &self.tree, tools, &env, &rust)?;
        let key = key(&inputs);
        let hit = if self.read { self.store.get(&key) } else { None };
        Some(Lookup { inputs, key, hit })
    }

    /// Record a success. `tools` are the fingerprints as they are now (an
    /// environment built by this run has its stamp only now). Nothing is
    /// recorded when a declared file changed while the task ran.
    pub fn record(&self, before: &Lookup, tools: &[(String, String)], mut entry: Entry) -> anyhow::Result<bool> {
        let changed = before
            .inputs
            .iter()
            .filter_map(|(n, h)| Some((n.strip_prefix("file:")?, h)))
            .any(|(p, h)| inputs::file_hash(&self.root.join(p)).as_ref() != Some(h));
        if changed {
            return Ok(false);
        }
        let mut inputs: BTreeMap<String, String> = before.inputs.iter().cloned().collect();
        for (need, fingerprint) in tools {
            inputs.insert(format!("tool:{need}"), fingerprint.clone());
        }
        entry.meta.inputs = inputs.into_iter().collect();
        entry.meta.key = key(&entry.meta.inputs);
        self.store.put(&entry)?;
        self.wrote.store(true, Ordering::SeqCst);
        Ok(true)
    }

    /// After a run that recorded something: keep the cache within its limits.
    pub fn finish(&self) -> anyhow::Result<usize> {
        if !self.wrote.load(Ordering::SeqCst) {
            return Ok(0);
        }
        self.store.evict(Limits::from_env())
    }
}

#[cfg(test)]
#[path = "key_tests.rs"]
mod tests;
