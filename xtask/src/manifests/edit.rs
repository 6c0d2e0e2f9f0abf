//! Line-based edits of kustomization files that keep every comment, blank
//! line and the order of what is there: pinning images in an overlay's
//! `images:` list, adding folders to the base's `resources:` list, and the
//! diff `manifests update --check` prints. Only the lines that change are
//! touched, so a second run with the same input changes nothing.

use crate::manifests::yaml;
use anyhow::{bail, Result};

/// One image as an overlay pins it (kustomize's `images:` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The image as the component's manifests name it (the entry's `name`).
    pub name: String,
    /// Where it is pushed (`newName`); None leaves the entry's own.
    pub new_name: Option<String>,
    pub new_tag: String,
    /// None removes a digest the entry had: it would pin another image than the tag.
    pub digest: Option<String>,
}

/// A top-level key's block list: its lines `[start, end)` after the key's line.
struct Block {
    key: usize,
    start: usize,
    end: usize,
    /// Where the list's dashes are, when it has items.
    indent: Option<usize>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_item(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("- ") || t == "-"
}

/// Nothing to read on the line: blank or a comment.
fn is_quiet(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The block list under the top-level `key:`, if the file has that key.
fn block(lines: &[String], key: &str) -> Result<Option<Block>> {
    let head = format!("{key}:");
    let Some(at) = lines.iter().position(|l| l.starts_with(&head)) else { return Ok(None) };
    let value = split_comment(&lines[at][head.len()..]).0;
    if !(value.is_empty() || value == "[]") {
        bail!("line {}: `{key}:` is written in flow style: write it as a block list, one `- ` item a line", at + 1);
    }
    let mut end = at + 1;
    let mut j = at + 1;
    while j < lines.len() && (is_quiet(&lines[j]) || indent(&lines[j]) > 0 || is_item(&lines[j])) {
        if !is_quiet(&lines[j]) {
            end = j + 1;
        }
        j += 1;
    }
    let indent = lines[at + 1..end].iter().find(|l| is_item(l)).map(|l| indent(l));
    Ok(Some(Block { key: at, start: at + 1, end, indent }))
}

/// `value # comment` → (value, " # comment"), minding quotes.
fn split_comment(rest: &str) -> (&str, &str) {
    let trimmed = rest.trim_start();
    let lead = rest.len() - trimmed.len();
    let close = match trimmed.chars().next() {
        Some(q @ ('"' | '\'')) => trimmed[1..].find(q).map(|i| i + 2),
        _ => None,
    };
    let from = close.unwrap_or(0);
    let cut = trimmed[from..].find(" #").map(|i| from + i).or_else(|| trimmed.starts_with('#').then_some(0));
    match cut {
        Some(c) => (trimmed[..c].trim_end(), &rest[lead + c..]),
        None => (trimmed.trim_end(), ""),
    }
}

/// A scalar's text without its quotes.
fn unquote(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        return v[1..v.len() - 1].replace("''", "'");
    }
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        return v[1..v.len() - 1].replace("\\\"", "\"").replace("\\\\", "\\");
    }
    v.to_string()
}

/// A value as YAML reads back as the same string: plain where that is safe,
/// double-quoted where YAML would read a number, a boolean or null.
fn scalar(v: &str) -> String {
    let plain_chars = v.chars().all(|c| c.is_ascii_alphanumeric() || "._-/:@+".contains(c));
    let lower = v.to_ascii_lowercase();
    let special = ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"].contains(&lower.as_str());
    let numeric = v.parse::<f64>().is_ok()
        || lower.starts_with("0x")
        || lower.starts_with("0o")
        || v.chars().all(|c| c.is_ascii_digit() || "._:+-".contains(c));
    if v.is_empty() || !plain_chars || special || numeric || v.starts_with(['-', ':', '@']) || v.ends_with(':') {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        v.to_string()
    }
}

/// A `key: value` line of a list item: (key, value, where the key starts).
fn field(line: &str) -> Option<(String, String, usize)> {
    let body = line.trim_start();
    let (body, col) = match body.strip_prefix("- ") {
        Some(b) => (b.trim_start(), line.len() - b.trim_start().len()),
        None => (body, indent(line)),
    };
    let (key, rest) = body.split_once(':')?;
    if key.is_empty() || key.contains(' ') || !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((key.to_string(), unquote(split_comment(rest).0), col))
}

fn lines_of(text: &str) -> Vec<String> {
    text.lines().map(String::from).collect()
}

fn join(lines: &[String]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// Pin `pins` in the overlay's `images:` list: an entry with the pin's
/// `name` gets its `newName`, `newTag` and `digest` set in place (a digest the
/// pin does not know is removed); a missing entry is added at the list's end.
pub fn pin_images(text: &str, pins: &[Pin]) -> Result<String> {
    yaml::parse(text).map_err(|e| anyhow::anyhow!("line {}: {}", e.line, e.message))?;
    let mut lines = lines_of(text);
    for pin in pins {
        let b = match block(&lines, "images")? {
            Some(b) => b,
            None => {
                while lines.last().is_some_and(|l| l.trim().is_empty()) {
                    lines.pop();
                }
                lines.push("# Each component's image, pinned by `cargo xtask manifests update`.".into());
                lines.push("images:".into());
                Block { key: lines.len() - 1, start: lines.len(), end: lines.len(), indent: None }
            }
        };
        if lines[b.key].trim_end().ends_with("[]") {
            lines[b.key] = "images:".into();
        }
        let items: Vec<usize> =
            (b.start..b.end).filter(|&i| is_item(&lines[i]) && Some(indent(&lines[i])) == b.indent).collect();
        if let Some(&i) = items.iter().find(|&&i| lines[i].trim_start()[1..].trim_start().starts_with('{')) {
            bail!("line {}: write this images entry in block style (one `key: value` a line)", i + 1);
        }
        let entry = items.iter().enumerate().find_map(|(n, &i)| {
            let end = items.get(n + 1).copied().unwrap_or(b.end);
            let named = (i..end).any(|j| field(&lines[j]).is_some_and(|(k, v, _)| k == "name" && v == pin.name));
            named.then_some((i, end))
        });
        let wanted =
            [("newName", pin.new_name.clone()), ("newTag", Some(pin.new_tag.clone())), ("digest", pin.digest.clone())];
        let Some((first, end)) = entry else {
            let at = b.indent.unwrap_or(2);
            let pad = " ".repeat(at);
            let mut add = vec![format!("{pad}- name: {}", scalar(&pin.name))];
            for (key, value) in wanted {
                if let Some(v) = value {
                    add.push(format!("{pad}  {key}: {}", scalar(&v)));
                }
            }
            lines.splice(b.end..b.end, add);
            continue;
        };
        let col = field(&lines[first]).map_or(indent(&lines[first]) + 2, |f| f.2);
        let last = (first..end).rev().find(|&j| !is_quiet(&lines[j])).unwrap_or(first);
        let (mut add, mut remove) = (Vec::new(), Vec::new());
        for (key, value) in wanted {
            let at = (first..end).find(|&j| field(&lines[j]).is_some_and(|(k, _, c)| k == key && c == col));
            match (at, value) {
                (Some(j), Some(v)) => {
                    let (_, old, _) = field(&lines[j]).expect("found as a field");
                    if old != v {
                        let line = &lines[j];
                        let key_at = line.find(&format!("{key}:")).expect("the key is on its line");
                        let comment = split_comment(&line[key_at + key.len() + 1..]).1.to_string();
                        lines[j] = format!("{}{key}: {}{comment}", &line[..key_at], scalar(&v));
                    }
                }
                (Some(j), None) if key == "digest" => {
                    if j == first {
                        bail!("line {}: put the entry's `name` first, then its digest", j + 1);
                    }
                    remove.push(j);
                }
                (None, Some(v)) => add.push(format!("{}{key}: {}", " ".repeat(col), scalar(&v))),
                _ => {}
            }
        }
        lines.splice(last + 1..last + 1, add);
        for j in remove.into_iter().rev() {
            lines.remove(j);
        }
    }
    let out = join(&lines);
    check_pins(&out, pins)?;
    Ok(out)
}

/// The edit's result, read back as YAML, pins what was asked.
fn check_pins(text: &str, pins: &[Pin]) -> Result<()> {
    let doc =
        yaml::parse(text).map_err(|e| anyhow::anyhow!("the edit broke the file at line {}: {}", e.line, e.message))?;
    for pin in pins {
        let entry = doc["images"].as_array().into_iter().flatten().find(|e| e["name"] == pin.name.as_str());
        let ok = entry.is_some_and(|e| {
            e["newTag"] == pin.new_tag.as_str()
                && pin.new_name.as_ref().is_none_or(|n| e["newName"] == n.as_str())
                && e["digest"].as_str() == pin.digest.as_deref()
        });
        if !ok {
            bail!("could not pin {} in the file: edit its images entry by hand", pin.name);
        }
    }
    Ok(())
}

/// The items of the top-level `resources:` list, unquoted, with their lines.
pub fn resources(text: &str) -> Result<Vec<(u32, String)>> {
    yaml::parse(text).map_err(|e| anyhow::anyhow!("line {}: {}", e.line, e.message))?;
    let lines = lines_of(text);
    let Some(b) = block(&lines, "resources")? else { return Ok(Vec::new()) };
    Ok((b.start..b.end)
        .filter(|&i| is_item(&lines[i]) && Some(indent(&lines[i])) == b.indent)
        .map(|i| (i as u32 + 1, unquote(split_comment(&lines[i].trim_start()[1..]).0)))
        .collect())
}

/// Add each of `wanted` that the `resources:` list lacks, after its last item.
pub fn add_resources(text: &str, wanted: &[String]) -> Result<String> {
    let have: Vec<String> = resources(text)?.into_iter().map(|(_, r)| r.trim_end_matches('/').to_string()).collect();
    let missing: Vec<&String> =
        wanted.iter().filter(|w| !have.contains(&w.trim_end_matches('/').to_string())).collect();
    if missing.is_empty() {
        return Ok(text.to_string());
    }
    let mut lines = lines_of(text);
    let (at, pad) = match block(&lines, "resources")? {
        Some(b) => (b.end, " ".repeat(b.indent.unwrap_or(2))),
        None => {
            lines.push("resources:".into());
            (lines.len(), "  ".to_string())
        }
    };
    lines.splice(at..at, missing.iter().map(|m| format!("{pad}- {}", scalar(m))));
    Ok(join(&lines))
}

/// What changed between two versions of a file, as `-`/`+` lines under
/// `@@ line N @@` headers with a line of context either side.
pub fn diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    // Longest common subsequence, from the end.
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut ops: Vec<(char, usize, &str)> = Vec::new(); // (op, line in old, text)
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', i, a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', i, a[i]));
            i += 1;
        } else {
            ops.push(('+', i, b[j]));
            j += 1;
        }
    }
    // Every change, with a line of context either side; a header where a run starts.
    let near_change = |k: usize| (k.saturating_sub(1)..=(k + 1).min(ops.len() - 1)).any(|m| ops[m].0 != ' ');
    let mut out = String::new();
    for (k, (op, line, text)) in ops.iter().enumerate() {
        if !near_change(k) {
            continue;
        }
        if k == 0 || !near_change(k - 1) {
            out += &format!("@@ line {} @@\n", line + 1);
        }
        out += &format!("{op}{text}\n");
    }
    out
}

#[cfg(test)]
#[path = "edit_tests.rs"]
mod tests;
