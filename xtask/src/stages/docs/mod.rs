//! `cargo xtask docs`: write the CLI reference from clap (or check it is
//! fresh), and check the diagrams: they parse and name only what exists.

use crate::cli::{Cli, DocsCommand};
use crate::documentation::{self as docs, cli_ref, mermaid};
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::Path;
use xshell::Shell;

pub fn run(root: &Path, action: &DocsCommand) -> Result<i32> {
    match action {
        DocsCommand::Cli { check } => cli(root, *check),
        DocsCommand::Diagrams => diagrams(root),
    }
}

fn cli(root: &Path, check: bool) -> Result<i32> {
    let pages = cli_ref::render(&Cli::command());
    // Pages of commands that are gone go too.
    let mut stale: Vec<String> = Vec::new();
    if let Ok(read) = std::fs::read_dir(root.join(cli_ref::DIR)) {
        for e in read.flatten() {
            let rel = format!("{}/{}", cli_ref::DIR, e.file_name().to_string_lossy());
            if !pages.iter().any(|(p, _)| *p == rel) {
                stale.push(rel);
            }
        }
    }
    if check {
        let differ: Vec<&str> = pages
            .iter()
            .filter(|(p, text)| std::fs::read_to_string(root.join(p)).ok().as_deref() != Some(text.as_str()))
            .map(|(p, _)| p.as_str())
            .chain(stale.iter().map(String::as_str))
            .collect();
        if !differ.is_empty() {
            eprintln!(
                "the CLI reference is stale (the command line changed): {}; run `{}` and commit it",
                differ.join(", "),
                cli_ref::REGENERATE
            );
            return Ok(1);
        }
        println!("{} and {}/ are up to date", cli_ref::PATH, cli_ref::DIR);
        return Ok(0);
    }
    std::fs::create_dir_all(root.join(cli_ref::DIR)).with_context(|| format!("creating {}", cli_ref::DIR))?;
    for (p, text) in &pages {
        crate::fsutil::write_atomic(&root.join(p), text.as_bytes())?;
    }
    for p in &stale {
        std::fs::remove_file(root.join(p)).with_context(|| format!("removing {p}"))?;
    }
    println!("wrote {} and {} page(s) in {}/", cli_ref::PATH, pages.len() - 1, cli_ref::DIR);
    Ok(0)
}

fn diagrams(root: &Path) -> Result<i32> {
    let mut all = Vec::new();
    let pages = docs::pages(root)?;
    for page in &pages {
        let text = std::fs::read_to_string(root.join(page)).with_context(|| format!("reading {}", page.display()))?;
        all.extend(docs::diagrams(&page.display().to_string(), &text));
    }
    let vocabulary = docs::vocabulary(root)?;
    let sh = Shell::new()?;
    sh.change_dir(root);
    let texts: Vec<String> = all.iter().map(|d| d.text.clone()).collect();
    let parsed = mermaid::parse(&sh, root, &texts)?;
    let mut findings = Vec::new();
    for (d, p) in all.iter().zip(&parsed) {
        match &p.error {
            Some(e) => findings.push(format!(
                "{}: mermaid cannot parse it: {}",
                d.place,
                e.split_whitespace().collect::<Vec<_>>().join(" ")
            )),
            None => findings.extend(docs::unknown_names(d, &p.nodes, &vocabulary)),
        }
    }
    for f in &findings {
        println!("{f}");
    }
    println!("{} diagram(s) in {} page(s) checked, {} finding(s)", all.len(), pages.len(), findings.len());
    Ok(if findings.is_empty() { 0 } else { 1 })
}
