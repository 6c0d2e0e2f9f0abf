//! Mermaid's own parser, run in node: installed on demand from
//! `tools/package.json` and its lock (`npm ci`, registry from npm's own
//! configuration) into a cache folder outside the checkout, keyed by the
//! lock, and reused while the lock is unchanged; `tools/mermaid-check.mjs`
//! parses the diagrams and hands back their nodes.

use super::Node;
use crate::error::UsageError;
use crate::services::{self, Dirs};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};

const PACKAGE: &str = "tools/package.json";
const LOCK: &str = "tools/package-lock.json";
const SCRIPT: &str = "tools/mermaid-check.mjs";

/// What the parser made of one diagram.
#[derive(Debug, serde::Deserialize)]
pub struct Parsed {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub nodes: Vec<Node>,
}

/// The folder holding `node_modules` for this lock: `XTASK_NODE_TOOLS`, else
/// `xtask-node/<lock's sum>` under the machine's cache (`/var/cache` for root).
fn install_dir(lock: &[u8]) -> PathBuf {
    let env = |k: &str| std::env::var(k).ok();
    let dirs = Dirs::decide(services::euid(), &env);
    dirs.cache_dir("XTASK_NODE_TOOLS", "xtask-node").join(services::short_sum(lock))
}

/// The installed tools (installing them first when this lock has none yet).
pub fn install(sh: &Shell, root: &Path) -> Result<PathBuf> {
    let lock = std::fs::read(root.join(LOCK)).with_context(|| format!("reading {LOCK}"))?;
    let dir = install_dir(&lock);
    if dir.join("node_modules/mermaid/package.json").is_file() {
        return Ok(dir);
    }
    let npm = which::which("npm")
        .map_err(|_| UsageError::new("npm not found on PATH: install Node.js with npm (apt-get install nodejs npm)"))?;
    let parent = dir.parent().context("the install folder has a parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    // Installed beside its place, renamed into it whole: an interrupted install leaves no half folder.
    let tmp = parent.join(format!(".tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    std::fs::copy(root.join(PACKAGE), tmp.join("package.json")).with_context(|| format!("copying {PACKAGE}"))?;
    std::fs::write(tmp.join("package-lock.json"), &lock).context("copying the lock")?;
    eprintln!("docs: installing mermaid's parser ({LOCK}) into {}", dir.display());
    let result = cmd!(sh, "{npm} ci --prefix {tmp} --ignore-scripts --no-audit --no-fund --loglevel=error").run();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        bail!("npm ci of {LOCK} failed ({e}): check that npm reaches its registry (npm config get registry)");
    }
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another run installed the same lock meanwhile: theirs stands.
        Err(_) if dir.join("node_modules/mermaid/package.json").is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => Err(e).with_context(|| format!("moving {} into place", dir.display())),
    }
}

/// Parse every text; one result per text, in order.
pub fn parse(sh: &Shell, root: &Path, texts: &[String]) -> Result<Vec<Parsed>> {
    let dir = install(sh, root)?;
    let node = which::which("node")
        .map_err(|_| UsageError::new("node not found on PATH: install Node.js (apt-get install nodejs npm)"))?;
    // The script runs from the install folder so `import 'mermaid'` resolves there.
    let script = dir.join("mermaid-check.mjs");
    let code = std::fs::read(root.join(SCRIPT)).with_context(|| format!("reading {SCRIPT}"))?;
    crate::fsutil::write_atomic(&script, &code)?;
    let input = serde_json::to_string(texts)?;
    let out = cmd!(sh, "{node} {script}").stdin(input).quiet().read().context("running mermaid's parser in node")?;
    let parsed: Vec<Parsed> = serde_json::from_str(&out).context("reading the parser's answer")?;
    if parsed.len() != texts.len() {
        bail!("the parser answered {} results for {} diagrams", parsed.len(), texts.len());
    }
    Ok(parsed)
}
