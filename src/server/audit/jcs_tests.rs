use serde_json::{json, Value};

use super::*;

fn fast(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(v, &mut out).unwrap();
    out
}

/// A small deterministic generator, so a failure names a value that can be reproduced.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.next() as usize % xs.len()]
    }

    fn string(&mut self) -> String {
        const PARTS: &[&str] = &[
            "a",
            "Z",
            "0",
            "\"",
            "\\",
            "/",
            "\n",
            "\r",
            "\t",
            "\u{8}",
            "\u{c}",
            "\u{0}",
            "\u{1f}",
            "\u{7f}",
            "é",
            "\u{2028}",
            "\u{e000}",
            "\u{ffff}",
            "😀",
            "\u{10000}",
            " ",
            "act_",
        ];
        let n = self.next() % 6;
        (0..n).map(|_| *self.pick(PARTS)).collect()
    }

    fn number(&mut self) -> Value {
        match self.next() % 8 {
            0 => json!(self.next() % 1000),
            1 => json!(-((self.next() % 1000) as i64)),
            2 => json!(999_999_999_999_999u64),
            3 => json!(1_000_000_000_000_000u64),
            4 => json!(u64::MAX - self.next() % 7),
            5 => json!(i64::MIN + (self.next() % 7) as i64),
            6 => json!(*self.pick(&[0.5, 1.0, -0.0, 1e21, 1e-7, 123.456, 2000.0, 5e-324])),
            _ => json!((self.next() as f64) / 7.0),
        }
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.next() % if depth > 3 { 4 } else { 6 } {
            0 => Value::Null,
            1 => Value::Bool(self.next().is_multiple_of(2)),
            2 => self.number(),
            3 => Value::String(self.string()),
            4 => (0..self.next() % 4)
                .map(|_| self.value(depth + 1))
                .collect(),
            _ => {
                let mut map = serde_json::Map::new();
                for _ in 0..self.next() % 5 {
                    map.insert(self.string(), self.value(depth + 1));
                }
                Value::Object(map)
            }
        }
    }
}

#[test]
fn the_writer_gives_the_bytes_of_canonical_bytes() {
    let fixed = [
        json!({"b": 1.0, "a": {"z": [1, 2e3], "y": "é"}}),
        json!({"\u{e000}": 1, "😀": 2, "a": 3, "": 4}),
        json!({"s": "quote \" backslash \\ slash / nl \n cr \r tab \t bs \u{8} ff \u{c} nul \u{0} us \u{1f} del \u{7f}"}),
        json!([9007199254740993u64, -9007199254740993i64, 1e300, 0, -1]),
    ];
    for v in &fixed {
        assert_eq!(fast(v), canonical_bytes(v).unwrap(), "{v}");
    }
    let mut g = Gen(7);
    for _ in 0..20_000 {
        let v = g.value(0);
        assert_eq!(
            String::from_utf8(fast(&v)).unwrap(),
            String::from_utf8(canonical_bytes(&v).unwrap()).unwrap(),
            "{v}"
        );
    }
}

/// What the check accepts, canonicalising gives back unchanged: hashing the text as it is
/// hashes exactly what the full path would.
fn holds(text: &str) {
    if is_canonical(text) {
        let parsed: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            String::from_utf8(canonical_bytes(&parsed).unwrap()).unwrap(),
            text,
            "accepted as canonical, but it is not"
        );
    }
}

#[test]
fn a_text_is_called_canonical_only_when_it_is() {
    let accepted = [
        r#"{"a":1,"b":[true,false,null],"c":{"d":"e\nf\u0000g\u001f"}}"#,
        r#"{}"#,
        r#"[]"#,
        r#""x""#,
        r#"-12"#,
        r#"0"#,
        r#"999999999999999"#,
        r#"{"":0,"a":"é/😀"}"#,
    ];
    for t in accepted {
        assert!(is_canonical(t), "{t}");
        holds(t);
    }
    let refused = [
        r#"{"b":1,"a":2}"#,    // keys out of order
        r#"{"a":1,"a":2}"#,    // a duplicate key
        r#"{"a": 1}"#,         // whitespace
        r#" {"a":1}"#,         // leading whitespace
        r#"{"a":1} "#,         // trailing whitespace
        r#"{"a":1}{"#,         // trailing text
        r#"1.0"#,              // a fraction
        r#"1e2"#,              // an exponent
        r#"-0"#,               // negative zero
        r#"01"#,               // a leading zero
        r#"1000000000000000"#, // past the plain integers
        r#""\/""#,             // an escape RFC 8785 does not make
        r#""\u0041""#,         // an escaped letter
        r#""\u000a""#,         // a control that has a short form
        r#""\u001F""#,         // upper-case hex
        r#""\ud83d\ude00""#,   // an escaped pair
        "\"tab\there\"",       // a raw control character
        r#"{"\u0061":1}"#,     // an escaped key
        r#"{"é":1}"#,          // a non-ASCII key
        r#"{"a":1,}"#,         // a trailing comma
        r#"[1,]"#,             // a trailing comma
        r#"tru"#,              // a cut literal
        r#""open"#,            // an open string
        r#""#,                 // nothing
    ];
    for t in refused {
        assert!(!is_canonical(t), "{t}");
    }
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert!(!is_canonical(&deep), "deeper than the parser goes");
}

#[test]
fn what_the_check_accepts_is_always_a_fixed_point() {
    let mut g = Gen(11);
    for _ in 0..20_000 {
        let v = g.value(0);
        let canonical = String::from_utf8(canonical_bytes(&v).unwrap()).unwrap();
        holds(&canonical);
        holds(&serde_json::to_string(&v).unwrap());
        holds(&serde_json::to_string_pretty(&v).unwrap());
        // Every cut and one-byte edit of a canonical text.
        let bytes = canonical.as_bytes();
        let at = g.next() as usize % (bytes.len() + 1);
        for edited in [
            [&bytes[..at], b"\\" as &[u8], &bytes[at..]].concat(),
            [&bytes[..at], b"0", &bytes[at..]].concat(),
            [&bytes[..at], b"\"", &bytes[at..]].concat(),
            bytes[..at].to_vec(),
        ] {
            if let Ok(t) = String::from_utf8(edited) {
                holds(&t);
            }
        }
    }
}

#[test]
fn the_args_fingerprint_is_the_hash_of_the_canonical_arguments() {
    let args = json!({"to": "é\n", "amount": 1500.0, "b": [1, {"z": null, "a": 2}]});
    let expected = crate::protocol::canonical::sha256_hex(&canonical_bytes(&args).unwrap());
    let got = crate::server::audit::replay::args_fingerprint(&args);
    assert_eq!(hex::encode(got.unwrap()), expected);
}

/// Arguments stored as canonical JSON are fingerprinted from their text, as if parsed; any
/// other text is left to be parsed.
#[test]
fn canonical_arguments_are_fingerprinted_from_their_text() {
    use crate::server::audit::replay::{args_fingerprint, text_fingerprint};
    let args = json!({"to": "é\n", "amount": 1500, "b": [1, {"z": null, "a": 2}]});
    let canonical = String::from_utf8(canonical_bytes(&args).unwrap()).unwrap();
    assert_eq!(
        text_fingerprint(&canonical),
        Some(args_fingerprint(&args).unwrap())
    );
    for other in [
        r#"{"amount":1500.0,"b":[1,{"a":2,"z":null}],"to":"é\n"}"#,
        r#"{"to":"é\n","amount":1500,"b":[1,{"a":2,"z":null}]}"#,
        r#"{"amount": 1500}"#,
        "{not json",
    ] {
        assert_eq!(text_fingerprint(other), None, "{other}");
    }
}
