//! `cargo xtask components`: what discovery found, as a table or as a JSON
//! array usable directly as a GitHub Actions matrix.

use crate::component::Component;
use anyhow::Result;
use serde_json::json;

/// The components given (all, or those `--affected`).
pub fn print(components: &[&Component], as_json: bool) -> Result<()> {
    if as_json {
        let items: Vec<_> = components
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "language": c.language,
                    "path": c.path,
                    "project": c.project,
                    "depends_on": c.depends_on,
                    "test_depends_on": c.test_depends_on,
                    "has_image": c.dockerfile.is_some(),
                    "has_manifests": c.manifests.is_some(),
                })
            })
            .collect();
        let matrix = serde_json::to_string(&items)?;
        println!("{matrix}");
        // On GitHub the matrix is also a step output, for `fromJSON` in a later job.
        crate::github::set_outputs(&[("matrix".into(), matrix)])?;
        return Ok(());
    }
    let yes = |b: bool| if b { "yes" } else { "no" };
    let list = |v: &[String]| if v.is_empty() { "-".to_string() } else { v.join(", ") };
    let rows: Vec<[String; 6]> = components
        .iter()
        .map(|c| {
            [
                c.name.clone(),
                c.language.to_string(),
                list(&c.depends_on),
                list(&c.test_depends_on),
                yes(c.dockerfile.is_some()).into(),
                yes(c.manifests.is_some()).into(),
            ]
        })
        .collect();
    let head = ["name", "language", "depends on", "tests also need", "image", "manifests"];
    let w: Vec<usize> =
        (0..6).map(|i| rows.iter().map(|r| r[i].len()).chain([head[i].len()]).max().unwrap_or(0)).collect();
    let line = |r: [&str; 6]| {
        let s: Vec<String> = r.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = w[i])).collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(head);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]);
    }
    Ok(())
}
