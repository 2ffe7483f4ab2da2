//! Untrusted text on a terminal: names, paths, comments and URLs from a torrent or a magnet
//! link are shown with their control characters escaped.
//!
//! A torrent is written by whoever made it. Printed raw, an ESC in its name can recolour or
//! clear the terminal, set its title or (on some terminals) answer back into its input; a `\r`
//! can overwrite the line with a fake one; a bidi override can show `exe.txt` for `txt.exe`.
//! JSON output needs none of this: serde_json escapes every control character already.

use std::borrow::Cow;

/// `text` with every character that can steer a terminal written as an escape: C0 controls
/// (newline and tab included: callers that want a line break split on it first), DEL, C1
/// controls (U+0080–U+009F: 8-bit CSI and friends), the Unicode bidi embeddings, overrides and
/// isolates, the implicit direction marks, and the line and paragraph separators. ASCII ones
/// become `\xNN`, others `\u{NNNN}`. Backslashes are left alone: the point is a safe terminal,
/// not a reversible encoding.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(steers_terminal) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !steers_terminal(c) {
            out.push(c);
        } else if c.is_ascii() {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
        }
    }
    Cow::Owned(out)
}

/// Whether `c` must not reach a terminal raw.
fn steers_terminal(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || matches!(
            c,
            '\u{061c}' // Arabic letter mark
            | '\u{200e}' | '\u{200f}' // left-to-right and right-to-left marks
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{202a}'..='\u{202e}' // embeddings, pop, overrides
            | '\u{2066}'..='\u{2069}' // isolates
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let name = "Ubuntu 24.04 — «desktop» 日本語 \\ ok";
        assert!(matches!(escape(name), Cow::Borrowed(s) if s == name));
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(escape("a\x1b[31mred\rb"), "a\\x1b[31mred\\x0db");
        assert_eq!(escape("\0\t\n\x7f"), "\\x00\\x09\\x0a\\x7f");
        assert_eq!(escape("\u{9b}31m"), "\\u{009b}31m");
        assert_eq!(escape("\u{85}"), "\\u{0085}");
    }

    #[test]
    fn bidi_controls_are_escaped() {
        assert_eq!(escape("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(escape("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
        assert_eq!(
            escape("\u{200f}\u{061c}\u{2028}"),
            "\\u{200f}\\u{061c}\\u{2028}"
        );
    }
}
