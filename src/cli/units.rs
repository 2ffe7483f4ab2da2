//! Human sizes and rates: parsing `256KiB`, `1MiB`, `500K`, `10M`, and printing sizes.

use anyhow::{bail, Result};

/// Parses a byte count: a plain number, or one with a unit. `K`/`KB`/`KiB` and friends are all
/// powers of 1024, as in every BitTorrent client's UI.
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        bail!("{text:?} is not a size (try 256KiB or 1MiB)");
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| anyhow::anyhow!("{text:?} is too large"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => bail!("{text:?} has an unknown unit (use K, M or G, with or without iB)"),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| anyhow::anyhow!("{text:?} is too large"))
}

/// A size the way people read it: `1.5 MiB`, `512 B`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("16384").unwrap(), 16384);
        assert_eq!(parse_size("256KiB").unwrap(), 256 * 1024);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("10M").unwrap(), 10 << 20);
        assert_eq!(parse_size("500k").unwrap(), 500 * 1024);
        assert!(parse_size("").is_err());
        assert!(parse_size("KiB").is_err());
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
        assert!(parse_size("9999999999999G").is_err());
    }

    #[test]
    fn sizes_format_readably() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1536), "1.50 KiB");
        assert_eq!(format_size(1 << 30), "1.00 GiB");
    }
}
