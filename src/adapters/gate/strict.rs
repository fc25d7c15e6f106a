//! Strict JSON for client→server lines: the gate only lets through what every MCP server reads
//! the same way it does.
//!
//! The servers behind the gate parse leniently, and each in its own way: the Python SDK reads
//! stdin with universal newlines (a bare `\r` ends a line) and replaces invalid UTF-8, takes
//! `NaN`, `Infinity` and `1e400`, and nests deeper than serde_json; Node's `JSON.parse` takes
//! lone surrogates, `1e400` and any depth; both keep the last of duplicate keys. A line one of
//! them reads differently from the gate is a `tools/call` gavel never adjudicated. So a line is
//! accepted only if it is valid UTF-8 with no raw `\r` (other than a final `\r\n`) or Unicode
//! line separator, one JSON value with no duplicate key at any level, no lone surrogate, only
//! finite numbers and integers every peer reads exactly, nested at most [`MAX_DEPTH`] deep.
//!
//! What passes is re-serialised by [`to_wire`]: the server reads bytes gavel wrote from the very
//! value it adjudicated, never the client's spelling of it.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Deepest nesting of arrays and objects accepted (serde_json itself stops at 128; the Python
/// SDK goes further): real MCP messages stay far below it.
pub const MAX_DEPTH: usize = 64;
/// Integers beyond ±(2^53 − 1) are read differently by JavaScript (rounded) and Python (exact).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotStrict {
    #[error("the line is empty")]
    Empty,
    #[error("the line is not valid UTF-8 (at byte {0})")]
    Utf8(usize),
    #[error("a raw carriage return inside the line (some servers split lines there)")]
    CarriageReturn,
    #[error("a raw U+{0:04X} inside the line (a line break to some readers)")]
    LineSeparator(u32),
    #[error("the integer {0} is beyond ±(2^53-1), where servers disagree on its value")]
    UnsafeInteger(String),
    #[error("not strict JSON: {0}")]
    Json(String),
}

/// Parses one line as read from the client (with or without its final `\n`).
pub fn parse(line: &[u8]) -> Result<Value, NotStrict> {
    let body = match line.strip_suffix(b"\n") {
        // Both reference transports end a line at `\r\n` too.
        Some(rest) => rest.strip_suffix(b"\r").unwrap_or(rest),
        None => line,
    };
    if body.contains(&b'\r') {
        return Err(NotStrict::CarriageReturn);
    }
    let text = std::str::from_utf8(body).map_err(|e| NotStrict::Utf8(e.valid_up_to()))?;
    if let Some(c) = text.chars().find(|&c| is_line_break(c)) {
        return Err(NotStrict::LineSeparator(c as u32));
    }
    if text.trim_matches([' ', '\t']).is_empty() {
        return Err(NotStrict::Empty);
    }
    unsafe_integer(text)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict { depth: 0 }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| NotStrict::Json(e.to_string()))?;
    Ok(value)
}

/// Refuses integer literals beyond ±(2^53 − 1): serde_json would read one past u64 as a float,
/// Python exactly, JavaScript rounded. (Literals with a fraction or exponent are floats to all.)
fn unsafe_integer(text: &str) -> Result<(), NotStrict> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let token = &text[start..i];
                let digits = token.trim_start_matches('-');
                let integer = !token.contains(['.', 'e', 'E']) && !digits.is_empty();
                if integer && digits.parse::<u64>().map_or(true, |n| n > MAX_SAFE_INTEGER) {
                    let shown: String = token.chars().take(24).collect();
                    return Err(NotStrict::UnsafeInteger(shown));
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Characters outside ASCII that some line readers end a line at (NEL, LS, PS), and the other
/// C1 controls: never raw on the wire to the server.
pub fn is_line_break(c: char) -> bool {
    matches!(c, '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}')
}

/// The line the server gets for `value`: compact JSON, the characters of [`is_line_break`]
/// escaped, one final `\n`.
pub fn to_wire(value: &Value) -> Vec<u8> {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if is_line_break(c) {
            // Non-ASCII characters only occur inside strings in serde_json's output, where a
            // `\uXXXX` escape means the same character.
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.push('\n');
    out.into_bytes()
}

/// Builds a [`Value`] while refusing duplicate keys, excess depth and numbers peers disagree on.
/// serde_json already refuses invalid UTF-8, lone surrogates, `NaN`/`Infinity`, out-of-range
/// numbers and raw control characters in strings.
#[derive(Clone, Copy)]
struct Strict {
    depth: usize,
}

impl Strict {
    fn nested<E: serde::de::Error>(self) -> Result<Strict, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(Strict {
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        if v > MAX_SAFE_INTEGER {
            return Err(E::custom(format!("the integer {v} is beyond 2^53-1")));
        }
        Ok(Value::Number(v.into()))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        if v.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(E::custom(format!("the integer {v} is beyond -(2^53-1)")));
        }
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        // serde_json refuses overflow already; this keeps the guarantee local.
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                let shown: String = key.chars().take(64).collect();
                return Err(A::Error::custom(format!("duplicate key {shown:?}")));
            }
            let value = map.next_value_seed(inner)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// The top-level `id` of a line that is not strict JSON, when the line looks like a request
/// (it has a top-level `method` key) and names one unambiguous string or number id, so the
/// client can be told instead of waiting forever. Reads the top-level object tolerantly: values
/// other than `id` are skipped without being understood.
pub fn recover_request_id(line: &[u8]) -> Option<Value> {
    // A few stray bytes before the object (a byte-order mark, a vertical tab, a no-break space)
    // do not hide the id.
    let lead = line
        .iter()
        .take(16)
        .position(|b| matches!(b, b'{' | b'[' | b'"'))?;
    let line = &line[lead..];
    let mut s = Scan { b: line, i: 0 };
    if !s.eat(b'{') {
        return None;
    }
    let mut id: Option<Value> = None;
    let mut ids = 0;
    let mut has_method = false;
    loop {
        s.ws();
        if s.eat(b'}') {
            break;
        }
        // A line cut short still names what it named before the cut.
        let Some(key) = s.string() else {
            break;
        };
        s.ws();
        if !s.eat(b':') {
            break;
        }
        s.ws();
        let start = s.i;
        if s.skip_value().is_none() {
            break;
        }
        let raw = &line[start..s.i];
        match serde_json::from_slice::<String>(key).ok().as_deref() {
            Some("id") => {
                ids += 1;
                id = serde_json::from_slice::<Value>(raw)
                    .ok()
                    .filter(|v| v.is_string() || v.is_number());
            }
            Some("method") => has_method = true,
            _ => {}
        }
        s.ws();
        if !s.eat(b',') {
            break;
        }
    }
    if has_method && ids == 1 {
        id
    } else {
        None
    }
}

/// A forgiving cursor over bytes: finds where values end without judging them.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// A quoted string, quotes included.
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        if !self.eat(b'"') {
            return None;
        }
        loop {
            match self.b.get(self.i)? {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some(&self.b[start..self.i]);
                }
                _ => self.i += 1,
            }
        }
    }

    /// Skips one value of any kind; containers by bracket counting, strings respected.
    fn skip_value(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match *self.b.get(self.i)? {
                b'"' => {
                    self.string()?;
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.i += 1;
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    self.i += 1;
                }
                b',' | b'}' | b']' if depth == 0 => return Some(()),
                _ => self.i += 1,
            }
            if depth == 0 && matches!(self.b.get(self.i), Some(b',' | b'}' | b']') | None) {
                return Some(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(line: &[u8]) -> NotStrict {
        match parse(line) {
            Err(e) => e,
            Ok(v) => panic!("accepted {:?} as {v}", String::from_utf8_lossy(line)),
        }
    }

    fn json_error(line: &[u8], needle: &str) {
        match refused(line) {
            NotStrict::Json(m) => assert!(m.contains(needle), "{m}"),
            other => panic!("{other:?} for {:?}", String::from_utf8_lossy(line)),
        }
    }

    #[test]
    fn ordinary_messages_parse_with_or_without_their_line_end() {
        let msg = json!({"jsonrpc":"2.0","id":1,"method":"ping"});
        for line in [
            &b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"[..],
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r\n",
            b" \t{ \"jsonrpc\" : \"2.0\", \"id\" : 1, \"method\" : \"ping\" } \n",
        ] {
            assert_eq!(parse(line), Ok(msg.clone()), "{line:?}");
        }
        // Escapes decode: these are the same keys and values as plain text.
        assert_eq!(
            parse(br#"{"\u006dethod":"tools\/call","x":"\ud83d\ude00"}"#),
            Ok(json!({"method":"tools/call","x":"\u{1f600}"}))
        );
    }

    #[test]
    fn encodings_other_than_clean_utf8_are_refused() {
        assert_eq!(refused(b"{\"a\":\"\xff\"}"), NotStrict::Utf8(6));
        // Overlong `/`, a CESU-8 surrogate, a truncated sequence.
        assert_eq!(refused(b"{\"a\":\"\xc0\xaf\"}"), NotStrict::Utf8(6));
        assert_eq!(refused(b"{\"a\":\"\xed\xa0\x80\"}"), NotStrict::Utf8(6));
        assert_eq!(refused(b"{\"a\":\"\xe2\x82\"}"), NotStrict::Utf8(6));
        // A byte-order mark is not JSON whitespace; UTF-16 is not UTF-8.
        json_error(b"\xef\xbb\xbf{}", "expected value");
        assert_eq!(refused(b"\xff\xfe{\x00}\x00"), NotStrict::Utf8(0));
        json_error(b"{\x00}\x00", "key must be a string");
    }

    #[test]
    fn lone_surrogates_are_refused() {
        json_error(br#"{"a":"\ud800"}"#, "");
        json_error(br#"{"a":"\udc00"}"#, "");
        json_error(br#"{"a":"\ud800\u0041"}"#, "");
        json_error(br#"{"a":"\ud800\ud800"}"#, "");
    }

    #[test]
    fn numbers_must_be_finite_and_read_alike_everywhere() {
        json_error(b"[1e400]", "out of range");
        json_error(b"[-1e400]", "out of range");
        let long = format!("1{}", "0".repeat(400));
        assert!(matches!(
            refused(format!("[{long}]").as_bytes()),
            NotStrict::UnsafeInteger(_)
        ));
        for bad in [
            "NaN",
            "Infinity",
            "-Infinity",
            "01",
            "+1",
            ".5",
            "0x10",
            "1.",
            "1e",
        ] {
            assert!(
                matches!(
                    parse(format!("[{bad}]").as_bytes()),
                    Err(NotStrict::Json(_))
                ),
                "{bad}"
            );
        }
        for big in [
            "9007199254740992",
            "-9007199254740992",
            "18446744073709551615",
            "123456789012345678901234567890",
        ] {
            assert_eq!(
                refused(format!("{{\"a\":[{big}]}}").as_bytes()),
                NotStrict::UnsafeInteger(big.chars().take(24).collect())
            );
        }
        // Inside strings, digits are text.
        assert!(
            parse(br#"{"a":"123456789012345678901234567890","b\"1":"\"9007199254740993"}"#).is_ok()
        );
        assert_eq!(
            parse(b"[9007199254740991,-9007199254740991,1e-400,1.5e300,-0]"),
            Ok(json!([
                9007199254740991u64,
                -9007199254740991i64,
                0.0,
                1.5e300,
                -0.0
            ]))
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
        for depth in [MAX_DEPTH + 1, 100, 129, 10_000] {
            let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            json_error(deep.as_bytes(), "");
        }
        let objects = format!(
            "{}1{}",
            "{\"a\":".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        json_error(objects.as_bytes(), "nested deeper");
    }

    #[test]
    fn duplicate_keys_are_refused_at_every_level() {
        json_error(
            br#"{"method":"ping","method":"tools/call"}"#,
            "duplicate key \"method\"",
        );
        json_error(
            br#"{"params":{"name":"a","name":"b"}}"#,
            "duplicate key \"name\"",
        );
        json_error(
            br#"{"p":[{"q":{"arguments":1,"arguments":2}}]}"#,
            "duplicate",
        );
        // The same key spelled two ways is still the same key.
        json_error(
            br#"{"method":"ping","\u006dethod":"tools/call"}"#,
            "duplicate",
        );
        assert!(parse(br#"{"a":{"b":1},"b":{"a":1}}"#).is_ok());
    }

    #[test]
    fn line_breaks_inside_the_line_are_refused() {
        let two = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r{\"jsonrpc\":\"2.0\"}\n";
        assert_eq!(refused(two), NotStrict::CarriageReturn);
        assert_eq!(refused(b"{\"a\":1,\r\"b\":2}\n"), NotStrict::CarriageReturn);
        assert_eq!(refused(b"{\"a\":1}\r"), NotStrict::CarriageReturn);
        assert_eq!(refused(b"{\"a\":1}\r\r\n"), NotStrict::CarriageReturn);
        assert_eq!(
            refused("{\"a\":\"x\u{2028}\"}".as_bytes()),
            NotStrict::LineSeparator(0x2028)
        );
        assert_eq!(
            refused("{\"a\":\"x\u{2029}\"}".as_bytes()),
            NotStrict::LineSeparator(0x2029)
        );
        assert_eq!(
            refused("{\"a\":\"x\u{85}\"}".as_bytes()),
            NotStrict::LineSeparator(0x85)
        );
        // Raw controls are not JSON whitespace and not allowed in strings.
        for c in ["\x0b", "\x0c", "\x1c", "\x00"] {
            assert!(parse(format!("{c}{{}}").as_bytes()).is_err(), "{c:?}");
            assert!(
                parse(format!("{{\"a\":\"{c}\"}}").as_bytes()).is_err(),
                "{c:?}"
            );
        }
        assert_eq!(refused(b"\n"), NotStrict::Empty);
        assert_eq!(refused(b"  \t\r\n"), NotStrict::Empty);
        json_error("\u{a0}{}".as_bytes(), "");
    }

    #[test]
    fn one_value_only() {
        json_error(b"{} {}", "trailing");
        json_error(br#"{"a":1}x"#, "trailing");
        json_error(br#"{"a":1"#, "EOF");
    }

    #[test]
    fn the_wire_form_is_one_plain_line() {
        let v = parse(br#"{"b":"x\u2028y\u0085z","a":[1.50,1e2,"\n\r"]}"#).unwrap();
        let wire = to_wire(&v);
        let text = std::str::from_utf8(&wire).unwrap();
        assert_eq!(
            text,
            "{\"a\":[1.5,100.0,\"\\n\\r\"],\"b\":\"x\\u2028y\\u0085z\"}\n"
        );
        assert!(!text[..text.len() - 1].contains(['\n', '\r']));
        // What the server reads back is exactly the value gavel judged.
        assert_eq!(parse(&wire), Ok(v));
    }

    #[test]
    fn request_ids_are_recovered_from_lines_that_are_not_strict() {
        let cases: [(&[u8], Option<Value>); 13] = [
            (
                b"{\"id\":\"a\",\"method\":\"tools/call\",\n",
                Some(json!("a")),
            ),
            (b"\xef\xbb\xbf{\"id\":2,\"method\":\"x\"}", Some(json!(2))),
            (b"\x0b {\"id\":2,\"method\":\"x\"}", Some(json!(2))),
            (
                br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"x":NaN}}"#,
                Some(json!(7)),
            ),
            (
                br#"{"method":"tools/call","params":{"x":[1e400,{"}":"]"}]},"id":"a\"b"}"#,
                Some(json!("a\"b")),
            ),
            (
                b"{\"id\":3,\"method\":\"ping\"}\r{\"id\":4}",
                Some(json!(3)),
            ),
            (b"{\"id\":\"\xff\",\"method\":\"x\"}", None),
            (br#"{"id":1,"id":2,"method":"x"}"#, None),
            (br#"{"id":5,"result":{}}"#, None),
            (br#"{"id":null,"method":"x"}"#, None),
            (br#"{"id":{"a":1},"method":"x"}"#, None),
            (br#"[{"id":1,"method":"x"}]"#, None),
            (br#"{"id":9,"method""#, None),
        ];
        for (line, want) in cases {
            assert_eq!(
                recover_request_id(line),
                want,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
