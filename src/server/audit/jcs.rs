//! RFC 8785 canonical JSON without the detours: a writer for `serde_json::Value` that produces
//! exactly the bytes of [`canonical_bytes`], and a check that a stored text already is the
//! canonical form of the JSON it holds, so the verifier can hash it as it is instead of parsing
//! it into a tree and writing it out again.
//!
//! Both are exact or step aside: a number that is not a small integer goes through
//! [`canonical_bytes`], and a text the check is unsure of (a float, an escaped or non-ASCII
//! key, unusual nesting) is "not canonical", which sends the caller down the full parse and
//! canonicalisation — never a different answer.

use serde_json::{Number, Value};

use crate::protocol::canonical::{canonical_bytes, CanonicalError};

/// Integers below this (and above its negative) are written by RFC 8785 (ECMAScript number
/// formatting of the double) as their plain digits: they are below 2^53, so exact.
pub(super) const PLAIN_INTEGERS: u64 = 1_000_000_000_000_000;
/// Digits of the largest integer [`is_canonical`] accepts (`PLAIN_INTEGERS` - 1).
const PLAIN_DIGITS: usize = 15;
/// Deeper texts are left to the parser, whose own limit then answers.
const MAX_DEPTH: usize = 100;

/// Appends the canonical JSON of `v`: the same bytes as [`canonical_bytes`].
pub(super) fn write_value(v: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys = map.keys();
            let sorted = match keys.next() {
                None => true,
                Some(first) => keys
                    .try_fold(first, |prev, key| key_order_less(prev, key).then_some(key))
                    .is_some(),
            };
            let write = |out: &mut Vec<u8>, (i, (key, value)): (usize, (&String, &Value))| {
                if i > 0 {
                    out.push(b',');
                }
                write_str(key, out);
                out.push(b':');
                write_value(value, out)
            };
            out.push(b'{');
            if sorted {
                map.iter().enumerate().try_for_each(|e| write(out, e))?;
            } else {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
                entries
                    .into_iter()
                    .enumerate()
                    .try_for_each(|e| write(out, e))?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Whether `a` sorts strictly before `b` in RFC 8785's order (UTF-16 code units).
fn key_order_less(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a < b
    } else {
        a.encode_utf16().lt(b.encode_utf16())
    }
}

fn write_number(n: &Number, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    if let Some(u) = n.as_u64().filter(|u| *u < PLAIN_INTEGERS) {
        write_u64(u, out);
    } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() < PLAIN_INTEGERS) {
        out.push(b'-');
        write_u64(i.unsigned_abs(), out);
    } else {
        out.extend(canonical_bytes(n)?);
    }
    Ok(())
}

/// Plain decimal digits; callers keep `u` below [`PLAIN_INTEGERS`] where RFC 8785 applies.
pub(super) fn write_u64(u: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = u;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// A string as RFC 8785 writes it: `"` and `\` and the control characters escaped (the short
/// forms where JSON has them, else `\u00xx` in lower case), everything else as it is.
pub(super) fn write_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let short: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(c >> 4) as usize],
                HEX[(c & 0xf) as usize],
            ],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(short);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether `text` is one JSON value written exactly as RFC 8785 writes it, so that
/// canonicalising what it parses to gives `text` back. Answers `false` whenever unsure: only
/// integers below [`PLAIN_INTEGERS`], object keys of plain ASCII without escapes (so byte order
/// is RFC 8785's order) in strictly ascending order, and the escapes [`write_str`] makes.
pub(super) fn is_canonical(text: &str) -> bool {
    let mut p = Scan {
        b: text.as_bytes(),
        i: 0,
    };
    p.value(0) && p.i == p.b.len()
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let ok = self.peek() == Some(c);
        self.i += usize::from(ok);
        ok
    }

    fn value(&mut self, depth: usize) -> bool {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().is_some(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.integer(),
            _ => false,
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let ok = self.b[self.i..].starts_with(word);
        self.i += if ok { word.len() } else { 0 };
        ok
    }

    fn object(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        self.i += 1;
        if self.eat(b'}') {
            return true;
        }
        let mut prev: Option<&[u8]> = None;
        loop {
            if self.peek() != Some(b'"') {
                return false;
            }
            let Some(key) = self.string() else {
                return false;
            };
            if key.iter().any(|&c| c == b'\\' || c >= 0x80) || prev.is_some_and(|p| p >= key) {
                return false;
            }
            prev = Some(key);
            if !self.eat(b':') || !self.value(depth) {
                return false;
            }
            if self.eat(b'}') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }

    fn array(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        self.i += 1;
        if self.eat(b']') {
            return true;
        }
        loop {
            if !self.value(depth) {
                return false;
            }
            if self.eat(b']') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }

    /// A string at `"`: its raw content, if every escape in it is one [`write_str`] makes.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.i += 1;
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'"' => {
                    let content = &self.b[start..self.i];
                    self.i += 1;
                    return Some(content);
                }
                b'\\' => match *self.b.get(self.i + 1)? {
                    b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                    b'u' => {
                        let code = match self.b.get(self.i + 2..self.i + 6)? {
                            [b'0', b'0', high @ (b'0' | b'1'), low @ (b'0'..=b'9' | b'a'..=b'f')] =>
                            {
                                let low = if low.is_ascii_digit() {
                                    low - b'0'
                                } else {
                                    low - b'a' + 10
                                };
                                (high - b'0') * 16 + low
                            }
                            _ => return None,
                        };
                        if matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                            return None; // has a short form
                        }
                        self.i += 6;
                    }
                    _ => return None,
                },
                0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)` of at most [`PLAIN_DIGITS`] digits, not `-0`, not followed by a
    /// fraction or exponent.
    fn integer(&mut self) -> bool {
        let negative = self.eat(b'-');
        let digits = self.i;
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
            }
            _ => return false,
        }
        let n = self.i - digits;
        let negative_zero = negative && self.b[digits] == b'0';
        n <= PLAIN_DIGITS
            && !negative_zero
            && !matches!(self.peek(), Some(b'.' | b'e' | b'E' | b'0'..=b'9'))
    }
}

#[cfg(test)]
#[path = "jcs_tests.rs"]
mod tests;
