//! Every string an agent sends is hostile: before it reaches a terminal, control characters,
//! ANSI/OSC escape introducers, bidirectional controls and every invisible character (format
//! characters such as zero-width and tag characters, variation selectors, fillers) are shown as
//! inert text (`\x1b`, `\u{200b}`), never interpreted and never hidden. Tag characters and
//! variation selectors can carry a whole hidden prompt inside a string that looks harmless.

use std::borrow::Cow;
use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Characters that must never reach a terminal as themselves.
pub fn is_dangerous(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    matches!(
        c.general_category(),
        // C1 controls (including the 8-bit CSI/OSC introducers 0x9b, 0x9d), every format
        // character (bidi controls, zero-width, U+061C, U+FEFF, tags, interlinear annotation…),
        // and the line/paragraph separators some readers treat as line breaks.
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    ) || is_default_ignorable(c)
}

/// Default_Ignorable_Code_Point characters (Unicode DerivedCoreProperties) that are not format
/// characters: invisible by definition, so they can hide text or smuggle data.
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{034f}'
            | '\u{115f}'
            | '\u{1160}'
            | '\u{17b4}'
            | '\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{2065}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fff8}'
            | '\u{e0000}'..='\u{e0fff}'
    )
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

/// One line of inert text: every dangerous character, newlines included, is escaped.
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

/// Pretty JSON that is safe to print to a terminal: serde_json escapes only C0 controls, so
/// every other dangerous character is written as a `\uXXXX` escape. Still valid JSON that
/// decodes to exactly the same value.
pub fn inert_json_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(256);
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, InertFormatter(PrettyFormatter::new()));
    value.serialize(&mut ser)?;
    // The serializer writes only UTF-8 (strings are copied from `&str`, escapes are ASCII).
    String::from_utf8(out).map_err(|e| serde_json::Error::io(io::Error::other(e)))
}

/// serde_json's pretty formatter with inert string contents.
struct InertFormatter<'a>(PrettyFormatter<'a>);

impl Formatter for InertFormatter<'_> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_dangerous(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
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
    fn invisible_characters_are_shown() {
        let cases = [
            ('\u{200b}', "\\u{200b}"), // zero width space
            ('\u{200c}', "\\u{200c}"),
            ('\u{200d}', "\\u{200d}"),
            ('\u{2060}', "\\u{2060}"), // word joiner
            ('\u{2064}', "\\u{2064}"), // invisible plus
            ('\u{feff}', "\\u{feff}"), // byte order mark
            ('\u{061c}', "\\u{061c}"), // arabic letter mark
            ('\u{00ad}', "\\xad"),     // soft hyphen
            ('\u{180e}', "\\u{180e}"),
            ('\u{2028}', "\\u{2028}"), // line separator
            ('\u{2029}', "\\u{2029}"),
            ('\u{fff9}', "\\u{fff9}"), // interlinear annotation anchor
            ('\u{e0001}', "\\u{e0001}"),
            ('\u{e0041}', "\\u{e0041}"), // tag latin capital A
            ('\u{e007f}', "\\u{e007f}"), // cancel tag
            ('\u{fe0f}', "\\u{fe0f}"),   // variation selector 16
            ('\u{e0100}', "\\u{e0100}"), // variation selector 17
            ('\u{3164}', "\\u{3164}"),   // hangul filler
            ('\u{034f}', "\\u{034f}"),   // combining grapheme joiner
        ];
        for (c, shown) in cases {
            let s = format!("a{c}b");
            assert_eq!(inert(&s), format!("a{shown}b"), "U+{:04X}", c as u32);
            assert_eq!(inert_multiline(&s), format!("a{shown}b"));
        }
        // A hidden instruction in tag characters becomes visible, character by character.
        let smuggled: String = "ok"
            .chars()
            .chain(
                "IGNORE"
                    .chars()
                    .map(|c| char::from_u32(0xe0000 + c as u32).unwrap()),
            )
            .collect();
        assert_eq!(
            inert(&smuggled),
            "ok\\u{e0049}\\u{e0047}\\u{e004e}\\u{e004f}\\u{e0052}\\u{e0045}"
        );
    }

    #[test]
    fn clean_text_is_borrowed() {
        for s in [
            "refund order o-17 — €12",
            "日本語のテキスト",
            "Ünïcödé ok",
            "emoji 🎉",
        ] {
            assert!(matches!(inert(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn inert_json_escapes_what_serde_json_leaves_raw() {
        let v = serde_json::json!({
            "tool": "x\u{9b}31m\u{202e}y",
            "k\u{200b}ey": ["\u{7f}", "\u{e0041}", "fine é 🎉"],
            "n": 1.5,
        });
        let text = inert_json_pretty(&v).unwrap();
        assert!(
            !text.chars().any(|c| c != '\n' && is_dangerous(c)),
            "{text}"
        );
        assert!(text.contains(r"x\u009b31m\u202ey"), "{text}");
        assert!(text.contains(r"k\u200bey"), "{text}");
        assert!(text.contains(r"\udb40\udc41"), "{text}"); // a surrogate pair for U+E0041
        assert!(text.contains(r"\u007f"), "{text}");
        assert!(text.contains("fine é 🎉"), "{text}");
        // Same value back, and laid out like serde_json's own pretty printer.
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
        let plain = serde_json::json!({"a": [1, {"b": null}], "c": "d"});
        assert_eq!(
            inert_json_pretty(&plain).unwrap(),
            serde_json::to_string_pretty(&plain).unwrap()
        );
    }
}
