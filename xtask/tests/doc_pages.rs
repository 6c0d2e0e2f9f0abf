//! The docs as a reader meets them: the CLI reference is what the code
//! generates, every page is short enough to read, every relative link
//! lands, and every diagram parses and names only what exists.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The README and every Markdown page under docs/, from the repo root.
fn pages() -> Vec<String> {
    let root = root();
    let mut out = vec!["README.md".to_string()];
    for e in walkdir::WalkDir::new(root.join("docs")).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "md") {
            out.push(e.path().strip_prefix(&root).unwrap().display().to_string());
        }
    }
    out
}

fn xtask(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask")).arg("--root").arg(root()).args(args).output().unwrap()
}

#[test]
fn the_cli_reference_is_what_the_command_line_generates() {
    let out = xtask(&["docs", "cli", "--check"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn no_page_is_over_400_lines() {
    let long: Vec<String> = pages()
        .into_iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(root().join(&p)).unwrap().lines().count();
            (n > 400).then(|| format!("{p}: {n} lines"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "pages over 400 lines (split them by question: tutorial, how-to, reference, explanation): {long:?}"
    );
}

/// The targets of a page's inline links `[text](target)`, outside code.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Code spans hold no links.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            if let Some(end) = rest.find(')') {
                out.push(rest[..end].trim().to_string());
                rest = &rest[end..];
            }
        }
    }
    out
}

/// The anchors GitHub gives a page's headings: lower case, spaces to `-`,
/// punctuation but `-` and `_` dropped (`## images.json` → `imagesjson`).
fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        let Some(title) = line.strip_prefix('#').filter(|_| !fenced) else { continue };
        let title = title.trim_start_matches('#').trim();
        let slug = title
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        out.push(slug);
    }
    out
}

#[test]
fn every_relative_link_resolves() {
    let root = root();
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(root.join(&page)).unwrap();
        let dir = Path::new(&page).parent().unwrap().to_path_buf();
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let file = if path.is_empty() { root.join(&page) } else { root.join(&dir).join(path) };
            if !file.exists() {
                broken.push(format!("{page}: ({target}): no such file"));
            } else if !anchor.is_empty() && file.extension().is_some_and(|e| e == "md") {
                let heads = anchors(&std::fs::read_to_string(&file).unwrap());
                if !heads.iter().any(|h| h == anchor) {
                    broken.push(format!("{page}: ({target}): no such heading"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "links to nothing: {broken:#?}");
}

#[test]
fn anchors_are_githubs() {
    let page =
        "# Files\n## images.json\n## 5. What the deploy identity may do\n```\n# not a heading\n```\n## `services up`\n";
    assert_eq!(anchors(page), ["files", "imagesjson", "5-what-the-deploy-identity-may-do", "services-up"]);
}

#[test]
fn links_are_read_from_prose_only() {
    let found = links("see [a](x.md#y) and `[b](code.md)`\n```\n[c](fenced.md)\n```\n[d](../e.md)");
    assert_eq!(found, ["x.md#y", "../e.md"]);
}

/// Mermaid's own parser (node, installed on demand from tools/package.json)
/// reads every diagram, and each names only jobs, commands, services,
/// environments, guards, events, stages and canary states that exist.
#[test]
fn every_diagram_parses_and_names_only_what_exists() {
    let out = xtask(&["docs", "diagrams"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with(" finding(s)") && !last.starts_with("0 diagram"), "{stdout}");
}
