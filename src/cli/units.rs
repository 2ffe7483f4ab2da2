//! Human sizes, rates, ratios and durations: parsing `256KiB`, `10M`, `1.5`, `30m`, and
//! printing sizes. Flags and the config file share these parsers, so both accept the same text.

use std::time::Duration;

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

/// Parses a seeding ratio (uploaded / torrent size), such as `1.5`.
pub fn parse_ratio(text: &str) -> Result<f64> {
    let ratio: f64 = text
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{text:?} is not a number (try 1.5)"))?;
    check_ratio(ratio)
}

/// Refuses ratios no upload could reach (NaN, infinite) or that every seed reaches at once.
pub fn check_ratio(ratio: f64) -> Result<f64> {
    if !ratio.is_finite() || ratio <= 0.0 {
        bail!("{ratio} is not a finite number above 0 (try 1.5)");
    }
    Ok(ratio)
}

/// Parses a duration with its units, such as `30m`, `2h`, `1h 30m` (humantime's syntax). A
/// bare number is refused: seconds or minutes would both be a plausible guess.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| anyhow::anyhow!("{text:?} is not a duration (try 30m or 2h): {e}"))?;
    if duration.is_zero() {
        bail!("{text:?} is not a duration above 0");
    }
    Ok(duration)
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
    fn ratios_must_be_finite_and_positive() {
        assert_eq!(parse_ratio("1.5").unwrap(), 1.5);
        assert_eq!(parse_ratio(" 2 ").unwrap(), 2.0);
        for bad in ["", "x", "0", "-1", "nan", "inf", "1e999"] {
            assert!(parse_ratio(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_need_units_and_length() {
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        for bad in ["", "30", "0s", "soon", "-1h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_format_readably() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1536), "1.50 KiB");
        assert_eq!(format_size(1 << 30), "1.00 GiB");
    }
}
