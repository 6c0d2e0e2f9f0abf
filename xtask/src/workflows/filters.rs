//! GitHub's filter patterns for branches and tags (workflow syntax, "Filter
//! pattern cheat sheet"): `*` any characters but `/`, `**` any characters,
//! `?` and `+` zero-or-one and one-or-more of the character (or `[…]` class)
//! before them, and a leading `!` excludes what earlier patterns matched. The
//! last pattern that matches a name decides.

#[derive(Debug, Clone, PartialEq)]
enum Atom {
    Char(char),
    Class(Vec<(char, char)>),
    /// `*`: anything but `/`.
    Star,
    /// `**`: anything.
    Stars,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Times {
    One,
    Optional,
    Many,
}

fn parse(pattern: &str) -> Vec<(Atom, Times)> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out: Vec<(Atom, Times)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        let atom = match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                Atom::Stars
            }
            '*' => Atom::Star,
            '?' | '+' if matches!(out.last(), Some((Atom::Char(_) | Atom::Class(_), Times::One))) => {
                out.last_mut().expect("checked").1 = if c == '?' { Times::Optional } else { Times::Many };
                continue;
            }
            '[' => match chars[i..].iter().position(|&e| e == ']') {
                Some(end) => {
                    let body = &chars[i..i + end];
                    i += end + 1;
                    let mut ranges = Vec::new();
                    let mut k = 0;
                    while k < body.len() {
                        if body.get(k + 1) == Some(&'-') && k + 2 < body.len() {
                            ranges.push((body[k], body[k + 2]));
                            k += 3;
                        } else {
                            ranges.push((body[k], body[k]));
                            k += 1;
                        }
                    }
                    Atom::Class(ranges)
                }
                None => Atom::Char('['),
            },
            '\\' if i < chars.len() => {
                i += 1;
                Atom::Char(chars[i - 1])
            }
            c => Atom::Char(c),
        };
        out.push((atom, Times::One));
    }
    out
}

fn one(atom: &Atom, c: char) -> bool {
    match atom {
        Atom::Char(a) => *a == c,
        Atom::Class(ranges) => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)),
        Atom::Star => c != '/',
        Atom::Stars => true,
    }
}

fn matches_at(atoms: &[(Atom, Times)], name: &[char]) -> bool {
    let Some(((atom, times), rest)) = atoms.split_first() else { return name.is_empty() };
    let (least, most) = match (atom, times) {
        (Atom::Star | Atom::Stars, _) | (_, Times::Many) => (usize::from(*times == Times::Many), name.len()),
        (_, Times::Optional) => (0, 1),
        (_, Times::One) => (1, 1),
    };
    // Greedy, backing off: the names are short.
    let run = name.iter().take(most).take_while(|&&c| one(atom, c)).count();
    (least..=run).rev().any(|n| matches_at(rest, &name[n..]))
}

/// Whether one pattern (no `!`) matches the whole name.
pub fn matches(pattern: &str, name: &str) -> bool {
    matches_at(&parse(pattern), &name.chars().collect::<Vec<_>>())
}

/// Whether a list of patterns (`!` excluding) lets the name through.
pub fn admits(patterns: &[String], name: &str) -> bool {
    let mut admitted = false;
    for p in patterns {
        match p.strip_prefix('!') {
            Some(negated) if matches(negated, name) => admitted = false,
            Some(_) => {}
            None if matches(p, name) => admitted = true,
            None => {}
        }
    }
    admitted
}

#[cfg(test)]
#[path = "filters_tests.rs"]
mod tests;
