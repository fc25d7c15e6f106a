//! Every string an agent sends is hostile: before it reaches a terminal, control characters,
//! ANSI/OSC escape introducers and bidirectional overrides are shown as inert text (`\x1b`),
//! never interpreted.

use std::borrow::Cow;

fn is_dangerous(c: char) -> bool {
    c.is_control() // C0, DEL and C1 (including the 8-bit CSI/OSC introducers 0x9b, 0x9d)
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

fn escape_into(out: &mut String, c: char) {
    use std::fmt::Write;
    let code = c as u32;
    if code <= 0xff {
        let _ = write!(out, "\\x{code:02x}");
    } else {
        let _ = write!(out, "\\u{{{code:04x}}}");
    }
}

/// One line of inert text: every control character, newlines included, is escaped.
pub fn inert(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_dangerous) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_dangerous(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Inert text that keeps line breaks (for rationales and pretty-printed JSON); tabs become spaces.
pub fn inert_multiline(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && is_dangerous(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push('\n'),
            '\t' => out.push_str("    "),
            c if is_dangerous(c) => escape_into(&mut out, c),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_shown_not_interpreted() {
        let hostile = "ok\x1b[2J\x1b]0;pwned\x07\u{9b}31m\r\nend\u{202e}";
        let s = inert(hostile);
        assert!(!s.chars().any(is_dangerous), "{s}");
        assert_eq!(
            s,
            "ok\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\x0d\\x0aend\\u{202e}"
        );
        let m = inert_multiline("a\tb\nc\x1b");
        assert_eq!(m, "a    b\nc\\x1b");
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(inert("refund order o-17 — €12"), Cow::Borrowed(_)));
    }
}
