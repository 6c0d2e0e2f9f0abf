//! Kubernetes resource quantities (`500m`, `1Gi`, `128974848`, `1e3`,
//! `0.5`) as whole milli-units, so cpu and memory add and compare exactly
//! (pure). Rounded up, as the API server rounds a request: a fraction of a
//! milli-unit still takes one.

/// A quantity in thousandths of its unit (`1` cpu = 1000, `1Ki` = 1_024_000).
pub type Milli = u128;

/// The milli-units of a quantity; `None` when it is not one (negative included).
pub fn parse(text: &str) -> Option<Milli> {
    let t = text.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    let end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, suffix) = t.split_at(end);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') {
        return None;
    }
    // The digits as one integer and the power of ten that scales it back.
    let digits: Milli = format!("{whole}{frac}").parse().ok()?;
    let (pow10, pow2) = scale(suffix)?;
    let pow10 = pow10 + 3 - i32::try_from(frac.len()).ok()?;
    let value = digits.checked_mul(2u128.checked_pow(pow2)?)?;
    if pow10 >= 0 {
        value.checked_mul(10u128.checked_pow(u32::try_from(pow10).ok()?)?)
    } else {
        Some(value.div_ceil(10u128.checked_pow(pow10.unsigned_abs())?))
    }
}

/// A suffix as (power of ten, power of two): `m` (-3, 0), `Gi` (0, 30), `e3` (3, 0).
fn scale(suffix: &str) -> Option<(i32, u32)> {
    let binary = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    if let Some(i) = binary.iter().position(|b| *b == suffix) {
        return Some((0, 10 * (i as u32 + 1)));
    }
    let decimal = match suffix {
        "n" => -9,
        "u" => -6,
        "m" => -3,
        "" => 0,
        "k" => 3,
        "M" => 6,
        "G" => 9,
        "T" => 12,
        "P" => 15,
        "E" => 18,
        _ => {
            let exp = suffix.strip_prefix('e').or_else(|| suffix.strip_prefix('E'))?;
            let exp: i32 = exp.parse().ok()?;
            return (-30..=30).contains(&exp).then_some((exp, 0));
        }
    };
    Some((decimal, 0))
}

/// Milli-units as a person reads them for `resource`: cpu in cores or
/// millicores (`1.5`, `300m`), memory in the largest binary unit that is whole-ish (`1.5Gi`).
pub fn show(resource: &str, milli: Milli) -> String {
    if resource == "cpu" {
        return if milli.is_multiple_of(1000) { format!("{}", milli / 1000) } else { format!("{milli}m") };
    }
    let bytes = milli.div_ceil(1000);
    for (unit, shift) in [("Gi", 30), ("Mi", 20), ("Ki", 10)] {
        if bytes >= 1 << shift {
            let v = bytes as f64 / f64::from(1u32 << shift);
            return if v.fract() == 0.0 { format!("{v}{unit}") } else { format!("{v:.1}{unit}") };
        }
    }
    format!("{bytes}")
}

#[cfg(test)]
#[path = "quantity_tests.rs"]
mod tests;
