//! The terminal that logs and progress bars share: log lines go above the bars, which redraw
//! below them, and colour is used only where a person reads it.

use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::fmt::MakeWriter;

/// Every live bar of the process, drawn on stderr; indicatif draws nothing when stderr is not
/// a terminal, so a pipe or a log file never sees a bar.
pub fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// A bar in the house style (spinner, percent, bar, then `template_tail`), already on screen.
pub fn bar(length: u64, template_tail: &str) -> ProgressBar {
    let template = format!("{{spinner}} {{percent:>3}}% [{{bar:30}}] {template_tail}");
    let style = ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar_with(length, style)
}

/// A bar with its own `style`, added to [`bars`] so that log lines never cut through it.
pub fn bar_with(length: u64, style: ProgressStyle) -> ProgressBar {
    let bar = bars().add(ProgressBar::new(length));
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Takes a finished bar off the screen and out of [`bars`].
pub fn clear(bar: &ProgressBar) {
    bar.finish_and_clear();
    bars().remove(bar);
}

/// Prints `line` to stdout above the bars (plainly, when there are none on screen).
pub fn println(line: &str) {
    bars().suspend(|| println!("{line}"));
}

/// Whether a stream that is (or is not) a terminal gets colour: only a terminal, and never
/// while `NO_COLOR` is set to anything but the empty string (the no-color.org convention).
pub fn colour(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether stderr, where logs and bars go, gets colour.
pub fn colour_stderr() -> bool {
    colour(io::stderr().is_terminal())
}

/// The log writer: tracing formats each event into one buffer and hands it over in one
/// write, which happens while the bars are cleared; they redraw below it afterwards.
#[derive(Clone, Copy, Debug, Default)]
pub struct AboveBars;

impl<'a> MakeWriter<'a> for AboveBars {
    type Writer = AboveBars;

    fn make_writer(&'a self) -> AboveBars {
        *self
    }
}

impl Write for AboveBars {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        bars().suspend(|| io::stderr().lock().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_never_gets_colour() {
        assert!(!colour(false));
    }
}
