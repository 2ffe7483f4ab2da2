//! The config file of `download` and `seed`: TOML whose keys mirror the long flags, read from
//! `--config FILE` or from the user's config folder. The format is documented in [`HELP`].

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use toml::Value;

use super::units::{check_ratio, parse_duration, parse_size};
use super::Failure;

/// The `--help` text of `download` and `seed` that documents the file; kept beside the parser
/// so a new key is documented where it is added.
pub const HELP: &str = "\
Config file:
  Settings come from the command line first, then from a TOML config file, then from the
  defaults below. The file is the one given with --config FILE; without it,
  $XDG_CONFIG_HOME/bitswarm/config.toml (or ~/.config/bitswarm/config.toml) when that file
  exists. Keys mirror the long flags; an unknown key is an error.

    port = 6881          # TCP port for incoming peers        (default 0: any free port)
    max_peers = 80       # peers connected at once            (default 50)
    max_down = \"10M\"     # download cap, bytes per second      (default: none)
    max_up = \"1M\"        # upload cap, bytes per second        (default: none)
    seed = true          # download: keep seeding when done   (default false)
    seed_ratio = 2.0     # download: seed until uploaded/size (default: no limit)
    seed_time = \"2h\"     # download: seed for this long       (default: no limit)
    output = \"/data\"     # download: the -o folder            (default: the current folder)
    lpd = true           # local peer discovery, as --lpd     (default false)

  Rates are bytes per second as text (\"500K\", \"10M\") or a plain number. seed_ratio and
  seed_time imply seed = true unless the file says seed = false, in which case they only
  bound seeding asked for with --seed. With both, seeding stops at whichever comes first.
  A relative output is taken from the current folder; a leading ~ is the home folder.
  `seed` always seeds until interrupted and reads only port, max_peers, max_up and lpd.";

/// The file name below the user's config folder (`$XDG_CONFIG_HOME/bitswarm/`).
const DEFAULT_NAME: &str = "bitswarm/config.toml";

/// The keys the file may hold, for the error that names an unknown one.
const KEYS: &str = "port, max_peers, max_down, max_up, seed, seed_ratio, seed_time, output, lpd";

/// What a config file says; `None` where it says nothing, so a flag or the default applies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub port: Option<u16>,
    pub max_peers: Option<usize>,
    pub max_down: Option<u64>,
    pub max_up: Option<u64>,
    /// `Some(false)` is not the same as `None`: it stops `seed_ratio`/`seed_time` from
    /// implying seeding (see [`HELP`]).
    pub seed: Option<bool>,
    pub seed_ratio: Option<f64>,
    pub seed_time: Option<Duration>,
    pub output: Option<PathBuf>,
    pub lpd: Option<bool>,
}

/// Reads the config: `explicit` must exist; the default file may be absent, and then every
/// setting is `None`. Any problem with a file that is there is bad input (exit 2).
pub fn load(explicit: Option<&Path>) -> Result<Config, Failure> {
    let (path, required) = match explicit {
        Some(path) => (path.to_path_buf(), true),
        None => match default_path() {
            Some(path) => (path, false),
            None => return Ok(Config::default()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound && !required => return Ok(Config::default()),
        Err(e) => {
            let error = anyhow!("cannot read config file {}: {e}", path.display());
            return Err(Failure::bad_input(error));
        }
    };
    parse(&text).map_err(|e| Failure::bad_input(e.context(path.display().to_string())))
}

/// `$XDG_CONFIG_HOME/bitswarm/config.toml`, or `$HOME/.config/bitswarm/config.toml` when
/// that variable is unset or not absolute (as the XDG spec says to treat it).
fn default_path() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.or_else(|| home().map(|h| h.join(".config")))?;
    Some(base.join(DEFAULT_NAME))
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Parses the text of a config file; errors are one line naming the key or the line.
pub fn parse(text: &str) -> Result<Config> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| {
            text[..s.start.min(text.len())].matches('\n').count() + 1
        });
        anyhow!("line {line}: {}", e.message().trim())
    })?;
    let mut config = Config::default();
    for (key, value) in &table {
        set(&mut config, key, value).with_context(|| format!("`{key}`"))?;
    }
    Ok(config)
}

/// Stores one key's value, converted and checked like the flag it mirrors.
fn set(config: &mut Config, key: &str, value: &Value) -> Result<()> {
    match key {
        "port" => {
            let n = integer(value)?;
            let port = u16::try_from(n).map_err(|_| anyhow!("{n} is not a port (0 to 65535)"))?;
            config.port = Some(port);
        }
        "max_peers" => {
            let n = integer(value)?;
            let peers = usize::try_from(n).map_err(|_| anyhow!("{n} is not a peer count"))?;
            config.max_peers = Some(peers);
        }
        "max_down" => config.max_down = Some(rate(value)?),
        "max_up" => config.max_up = Some(rate(value)?),
        "seed" => config.seed = Some(boolean(value)?),
        "lpd" => config.lpd = Some(boolean(value)?),
        "seed_ratio" => {
            let ratio = match value {
                Value::Float(f) => *f,
                Value::Integer(i) => *i as f64,
                other => bail!("expected a number like 1.5, got {}", other.type_str()),
            };
            config.seed_ratio = Some(check_ratio(ratio)?);
        }
        "seed_time" => config.seed_time = Some(parse_duration(text(value, "\"2h\"")?)?),
        "output" => config.output = Some(expand_home(Path::new(text(value, "\"/data\"")?))),
        _ => bail!("unknown key (known keys: {KEYS})"),
    }
    Ok(())
}

fn boolean(value: &Value) -> Result<bool> {
    match value {
        Value::Boolean(b) => Ok(*b),
        other => bail!("expected true or false, got {}", other.type_str()),
    }
}

fn integer(value: &Value) -> Result<i64> {
    match value {
        Value::Integer(i) => Ok(*i),
        other => bail!("expected a whole number, got {}", other.type_str()),
    }
}

fn text<'v>(value: &'v Value, example: &str) -> Result<&'v str> {
    match value {
        Value::String(s) => Ok(s),
        other => bail!("expected a string like {example}, got {}", other.type_str()),
    }
}

/// A rate as the flags write it ("5M"), or a plain number of bytes per second.
fn rate(value: &Value) -> Result<u64> {
    match value {
        Value::Integer(i) => u64::try_from(*i).map_err(|_| anyhow!("{i} is not a rate")),
        Value::String(s) => parse_size(s),
        other => bail!("expected a rate like \"5M\", got {}", other.type_str()),
    }
}

/// Expands a leading `~` to the home folder: a shell would have done it for the flag, and a
/// folder literally named `~` is never what the file meant.
fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), home()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_parses() {
        let config = parse(
            "port = 6881\nmax_peers = 80\nmax_down = \"10M\"\nmax_up = 1024\nseed = true\n\
             seed_ratio = 2\nseed_time = \"1h 30m\"\noutput = \"/data\"\nlpd = true\n",
        )
        .unwrap();
        let expected = Config {
            port: Some(6881),
            max_peers: Some(80),
            max_down: Some(10 << 20),
            max_up: Some(1024),
            seed: Some(true),
            seed_ratio: Some(2.0),
            seed_time: Some(Duration::from_secs(5400)),
            output: Some(PathBuf::from("/data")),
            lpd: Some(true),
        };
        assert_eq!(config, expected);
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn errors_are_one_line_naming_the_key_or_line() {
        let cases = [
            ("colour = 1", "`colour`: unknown key (known keys: "),
            ("port = 70000", "`port`: 70000 is not a port (0 to 65535)"),
            (
                "port = \"x\"",
                "`port`: expected a whole number, got string",
            ),
            ("max_up = \"5X\"", "`max_up`: \"5X\" has an unknown unit"),
            ("max_down = -1", "`max_down`: -1 is not a rate"),
            ("seed = 1", "`seed`: expected true or false, got integer"),
            (
                "seed_ratio = 0.0",
                "`seed_ratio`: 0 is not a finite number above 0",
            ),
            (
                "seed_ratio = nan",
                "`seed_ratio`: NaN is not a finite number above 0",
            ),
            (
                "seed_time = \"0s\"",
                "`seed_time`: \"0s\" is not a duration above 0",
            ),
            (
                "seed_time = 60",
                "`seed_time`: expected a string like \"2h\", got integer",
            ),
            ("[download]\nport = 1", "`download`: unknown key"),
            ("port = 1\nport =", "line 2: "),
        ];
        for (text, start) in cases {
            let error = format!("{:#}", parse(text).unwrap_err());
            assert!(error.starts_with(start), "{text:?} gave {error:?}");
            assert!(!error.contains('\n'), "{text:?} gave {error:?}");
        }
    }

    #[test]
    fn a_leading_tilde_is_home() {
        let Some(home) = home() else { return };
        assert_eq!(expand_home(Path::new("~/dl")), home.join("dl"));
        assert_eq!(expand_home(Path::new("/x/~")), PathBuf::from("/x/~"));
    }
}
