//! A corpus of hostile client lines for `gavel gate`, each smuggling a `tools/call` of a tool
//! the test's policy denies: encodings, numbers, depth, line breaks, duplicate keys, batches,
//! id types, whitespace, size. Included with `#[path]` from the gate tests.
//!
//! Every entry says how the gate must answer it (a JSON-RPC error for each recoverable request
//! id, a deny for a call it can judge, or silence) and on which bare servers it is known to run
//! the call (the tests check those too, so the corpus cannot go stale and prove nothing).
#![allow(dead_code)]

use serde_json::{json, Value};

/// The call every entry smuggles: `tool` with the arguments `args(marker)` (JSON text), whose
/// side effect names `marker`.
pub struct Target {
    pub tool: String,
    pub args: Box<dyn Fn(&str) -> String>,
}

/// What the gate answers for an entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A JSON-RPC error for `id` with `code`.
    Error(Value, i64),
    /// The call was judged, and gavel's policy denied it: an `isError` result for `id`.
    Denied(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// The official Python SDK (tests/peers/notes_server.py).
    Python,
    /// The TypeScript SDK (@modelcontextprotocol/server-filesystem).
    TypeScript,
}

pub struct Hostile {
    /// Unique; also the marker of the side effect.
    pub name: String,
    pub line: Vec<u8>,
    pub answers: Vec<Answer>,
    /// Bare servers that run the smuggled call from this very line.
    pub runs_on: Vec<Peer>,
}

pub const PARSE: i64 = -32700;
pub const INVALID: i64 = -32600;
pub const PARAMS: i64 = -32602;

/// Bigger than the gate's line limit (8 MiB) and below the TypeScript SDK's 10 MiB buffer.
const HUGE: usize = 9 * 1024 * 1024;

pub fn id_of(name: &str) -> Value {
    json!(format!("h-{name}"))
}

pub fn corpus(t: &Target) -> Vec<Hostile> {
    use Peer::{Python as Py, TypeScript as Ts};
    let mut c = Corpus { t, out: Vec::new() };
    const BOTH: &[Peer] = &[Py, Ts];
    const NONE: &[Peer] = &[];

    // A well-formed call, denied by policy: the control.
    c.add("plain", |c, n| c.call(n, ""), Denied, BOTH);

    // The call with a hostile `_meta.x` (raw bytes, maybe not JSON).
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
    let metas: Vec<(&str, Vec<u8>, Expect, &[Peer])> = vec![
        // Encodings.
        ("utf8-invalid", b"\"\xff\"".to_vec(), Err(PARSE), BOTH),
        ("utf8-overlong", b"\"\xc0\xaf\"".to_vec(), Err(PARSE), BOTH),
        (
            "utf8-cesu-surrogate",
            b"\"\xed\xa0\x80\"".to_vec(),
            Err(PARSE),
            BOTH,
        ),
        ("utf8-truncated", b"\"\xe2\x82\"".to_vec(), Err(PARSE), BOTH),
        (
            "lone-high-surrogate",
            br#""\ud800""#.to_vec(),
            Err(PARSE),
            &[Ts],
        ),
        (
            "lone-low-surrogate",
            br#""\udc00""#.to_vec(),
            Err(PARSE),
            &[Ts],
        ),
        (
            "reversed-surrogates",
            br#""\udc00\ud800""#.to_vec(),
            Err(PARSE),
            &[Ts],
        ),
        ("nul-byte", b"\"\x00\"".to_vec(), Err(PARSE), NONE),
        (
            "terminal-escape",
            b"\"\x1b]0;pwned\x07\x1b[2J\"".to_vec(),
            Err(PARSE),
            NONE,
        ),
        // Numbers.
        ("num-1e400", b"1e400".to_vec(), Err(PARSE), BOTH),
        ("num-minus-1e400", b"-1e400".to_vec(), Err(PARSE), BOTH),
        ("num-nan", b"NaN".to_vec(), Err(PARSE), &[Py]),
        ("num-infinity", b"Infinity".to_vec(), Err(PARSE), &[Py]),
        (
            "num-minus-infinity",
            b"-Infinity".to_vec(),
            Err(PARSE),
            &[Py],
        ),
        (
            "num-401-digits",
            format!("1{}", "0".repeat(400)).into_bytes(),
            Err(PARSE),
            BOTH,
        ),
        (
            "num-beyond-2-53",
            b"9007199254740993".to_vec(),
            Err(PARSE),
            BOTH,
        ),
        (
            "num-beyond-2-64",
            b"123456789012345678901234567890".to_vec(),
            Err(PARSE),
            BOTH,
        ),
        ("num-leading-zero", b"012".to_vec(), Err(PARSE), NONE),
        ("num-hex", b"0x1F".to_vec(), Err(PARSE), NONE),
        ("num-plus", b"+1".to_vec(), Err(PARSE), NONE),
        // Depth: over gavel's 64, over serde_json's 128, far over everything.
        ("depth-65", nested(65), Err(PARSE), BOTH),
        ("depth-130", nested(130), Err(PARSE), BOTH),
        ("depth-10000", nested(10_000), Err(PARSE), &[Ts]),
        // Line and paragraph separators: raw they are refused, escaped they are text.
        ("raw-u2028", "\"\u{2028}\"".into(), Err(PARSE), BOTH),
        ("raw-u2029", "\"\u{2029}\"".into(), Err(PARSE), BOTH),
        ("raw-nel", "\"\u{85}\"".into(), Err(PARSE), BOTH),
        (
            "escaped-u2028",
            br#""\u2028\u2029\u0085""#.to_vec(),
            Denied,
            BOTH,
        ),
        (
            "dup-in-meta",
            br#"{"a":1,"a":2}"#.to_vec(),
            Err(PARSE),
            BOTH,
        ),
        // Size: a line over the gate's limit is dropped unread.
        (
            "huge-line",
            format!("\"{}\"", "A".repeat(HUGE)).into_bytes(),
            Silent,
            NONE,
        ),
    ];
    for (name, value, expect, runs) in metas {
        c.add(
            name,
            move |c, n| c.meta(n, "\"@@\"").replace_bytes(b"\"@@\"", &value),
            expect,
            runs,
        );
    }

    // The plain call with one spot changed: (from, to).
    let edits: Vec<Edit> = vec![
        // Line breaks inside one line (the gate's reader splits at `\n` only).
        (
            "cr-as-whitespace",
            b",\"params\"",
            b",\r\"params\"",
            Err(PARSE),
            &[Ts],
        ),
        ("cr-cr-lf", b"}}\n", b"}}\r\r\n", Err(PARSE), NONE),
        ("crlf-ending", b"}}\n", b"}}\r\n", Denied, BOTH),
        (
            "lf-split",
            b",\"params\"",
            b",\n\"params\"",
            Err(PARSE),
            NONE,
        ),
        // Whitespace that is not JSON whitespace.
        (
            "ideographic-space",
            b",\"params\"",
            " ,\u{3000}\"params\"".as_bytes(),
            Err(PARSE),
            NONE,
        ),
        // Duplicate keys, at every level and in every order.
        (
            "dup-params",
            b"\"params\":{",
            b"\"params\":{},\"params\":{",
            Err(PARSE),
            BOTH,
        ),
        (
            "dup-jsonrpc",
            b"\"jsonrpc\":\"2.0\"",
            b"\"jsonrpc\":\"1.0\",\"jsonrpc\":\"2.0\"",
            Err(PARSE),
            BOTH,
        ),
        (
            "dup-id",
            b"\"id\":",
            b"\"id\":\"other\",\"id\":",
            Silent,
            BOTH,
        ),
        // Shapes that are not exactly one JSON-RPC 2.0 message.
        (
            "result-beside-method",
            b"{\"jsonrpc\"",
            b"{\"result\":{},\"jsonrpc\"",
            Err(INVALID),
            &[Py],
        ),
        (
            "error-beside-method",
            b"{\"jsonrpc\"",
            b"{\"error\":{\"code\":1,\"message\":\"m\"},\"jsonrpc\"",
            Err(INVALID),
            NONE,
        ),
        (
            "extra-member",
            b"{\"jsonrpc\"",
            b"{\"Method\":\"ping\",\"jsonrpc\"",
            Err(INVALID),
            &[Py],
        ),
        ("jsonrpc-1.0", b"\"2.0\"", b"\"1.0\"", Err(INVALID), NONE),
        ("jsonrpc-number", b"\"2.0\"", b"2.0", Err(INVALID), NONE),
        (
            "no-jsonrpc",
            b"\"jsonrpc\":\"2.0\",",
            b"",
            Err(INVALID),
            NONE,
        ),
    ];
    c.add(
        "params-array",
        |c, n| {
            c.call(n, "")
                .replace_bytes(b"\"params\":{", b"\"params\":[{")
                .replace_bytes(b"}}\n", b"}]}\n")
        },
        Err(INVALID),
        NONE,
    );
    for (name, from, to, expect, runs) in edits {
        c.add(
            name,
            move |c, n| c.call(n, "").replace_bytes(from, to),
            expect,
            runs,
        );
    }

    // Bytes before the message.
    let prefixes: Vec<(&str, &[u8], &[Peer])> = vec![
        ("bom", b"\xef\xbb\xbf", NONE),
        ("vertical-tab", b"\x0b", NONE),
        ("form-feed", b"\x0c", NONE),
        ("nbsp", "\u{a0}".as_bytes(), NONE),
    ];
    for (name, prefix, runs) in prefixes {
        c.add(
            name,
            move |c, n| [prefix, &c.call(n, "")].concat(),
            Err(PARSE),
            runs,
        );
    }

    c.add("utf16le", |c, n| utf16le(&c.call(n, "")), Silent, NONE);
    c.add(
        "cr-split",
        |c, n| [c.ping(n).as_slice(), b"\r", &c.call(n, "")].concat(),
        Custom(vec![Answer::Error(json!("h-cr-split-ping"), PARSE)]),
        &[Py],
    );
    c.add(
        "spaces-and-tabs",
        |c, n| {
            let text = String::from_utf8(c.call(n, "")).unwrap_or_default();
            format!(" \t{}", text.replace(':', " :\t").replace(',', "\t, ")).into_bytes()
        },
        Denied,
        BOTH,
    );

    // Duplicate keys where the members are built differently.
    let method = |first: &str, second: &str| format!(r#""method":"{first}","{second}":"#);
    let ping_then_call = method("ping", "method") + r#""tools/call""#;
    let call_then_ping = method("tools/call", "method") + r#""ping""#;
    let escaped = method("ping", r"\u006dethod") + r#""tools/call""#;
    for (name, members, runs) in [
        ("dup-method-ping-first", ping_then_call, BOTH),
        ("dup-method-call-first", call_then_ping, NONE),
        ("dup-method-escaped", escaped, BOTH),
    ] {
        c.add(name, move |c, n| c.raw(n, &members, ""), Err(PARSE), runs);
    }
    let tool = t.tool.clone();
    let dup_name = format!(r#""name":"shout","name":"{tool}""#);
    c.add(
        "dup-name",
        move |c, n| c.call_with_name(n, &dup_name),
        Err(PARSE),
        BOTH,
    );
    c.add(
        "dup-arguments",
        |c, n| {
            c.call_custom(
                n,
                &format!(r#""arguments":{{}},"arguments":{}"#, (c.t.args)(n)),
            )
        },
        Err(PARSE),
        BOTH,
    );

    // Batches: never forwarded, not even in part; each request inside answered.
    c.add(
        "batch-of-one",
        |c, n| c.batch(&[c.call(n, "")]),
        Err(INVALID),
        NONE,
    );
    c.add(
        "batch-ping-and-call",
        |c, n| c.batch(&[c.ping(n), c.call(n, "")]),
        Custom(vec![
            Answer::Error(json!("h-batch-ping-and-call-ping"), INVALID),
            Answer::Error(id_of("batch-ping-and-call"), INVALID),
        ]),
        NONE,
    );
    c.add(
        "batch-nested",
        |c, n| c.batch(&[c.batch(&[c.call(n, "")])]),
        Silent,
        NONE,
    );
    c.add("batch-empty", |_, _| b"[]\n".to_vec(), Silent, NONE);

    // Calls gavel cannot judge, and ids that are no ids.
    c.add(
        "name-not-a-string",
        |c, n| c.call_with_name(n, r#""name":["x"]"#),
        Err(PARAMS),
        NONE,
    );
    c.add(
        "arguments-a-string",
        |c, n| {
            let args = serde_json::to_string(&(c.t.args)(n)).unwrap_or_default();
            c.call_custom(n, &format!(r#""arguments":{args}"#))
        },
        Err(PARAMS),
        NONE,
    );
    c.add(
        "no-id",
        |c, n| {
            c.call(n, "")
                .replace_bytes(format!("\"id\":\"h-{n}\",").as_bytes(), b"")
        },
        Silent,
        NONE,
    );
    let ids: Vec<(&str, &str, Expect, &[Peer])> = vec![
        ("id-null", "null", Silent, NONE),
        ("id-true", "true", Silent, NONE),
        ("id-object", r#"{"a":1}"#, Silent, NONE),
        ("id-array", "[1]", Silent, NONE),
        (
            "id-fraction",
            "1.5",
            Custom(vec![Answer::Error(json!(1.5), INVALID)]),
            NONE,
        ),
        (
            "id-exponent",
            "7e0",
            Custom(vec![Answer::Error(json!(7.0), INVALID)]),
            NONE,
        ),
        (
            "id-beyond-2-53",
            "9007199254740993",
            Custom(vec![Answer::Error(json!(9007199254740993u64), PARSE)]),
            &[Py],
        ),
    ];
    for (name, id, expect, runs) in ids {
        c.add(
            name,
            move |c, n| {
                let own = format!("\"id\":\"h-{n}\"");
                c.call(n, "")
                    .replace_bytes(own.as_bytes(), format!("\"id\":{id}").as_bytes())
            },
            expect,
            runs,
        );
    }

    // Escapes decode before judging: these are ordinary calls of the denied tool.
    c.add(
        "escaped-method",
        |c, n| c.raw(n, r#""method":"tools\/call""#, ""),
        Denied,
        BOTH,
    );
    let escaped_tool: String = t
        .tool
        .chars()
        .map(|ch| format!("\\u{:04x}", ch as u32))
        .collect();
    let escaped_name = format!(r#""name":"{escaped_tool}""#);
    c.add(
        "escaped-tool-name",
        move |c, n| c.call_with_name(n, &escaped_name),
        Denied,
        BOTH,
    );

    c.out
}

use Expect::{Custom, Denied, Err, Silent};

/// An entry made by changing one spot of the plain call: (name, from, to, answers, runs on).
type Edit<'a> = (&'a str, &'a [u8], &'a [u8], Expect, &'a [Peer]);

/// How an entry is answered, written briefly.
enum Expect {
    /// A JSON-RPC error with this code for the entry's own id.
    Err(i64),
    Denied,
    Silent,
    Custom(Vec<Answer>),
}

struct Corpus<'a> {
    t: &'a Target,
    out: Vec<Hostile>,
}

impl Corpus<'_> {
    fn add(
        &mut self,
        name: &str,
        line: impl Fn(&Corpus, &str) -> Vec<u8>,
        expect: Expect,
        runs_on: &[Peer],
    ) {
        let answers = match expect {
            Err(code) => vec![Answer::Error(id_of(name), code)],
            Denied => vec![Answer::Denied(id_of(name))],
            Silent => vec![],
            Custom(a) => a,
        };
        assert!(
            !self.out.iter().any(|h| h.name == name),
            "duplicate entry {name}"
        );
        let line = line(self, name);
        self.out.push(Hostile {
            name: name.to_string(),
            line,
            answers,
            runs_on: runs_on.to_vec(),
        });
    }

    /// `{"jsonrpc":"2.0","id":"h-NAME",METHOD,"params":{"name":TOOL,"arguments":ARGS EXTRA}}`
    fn raw(&self, name: &str, method: &str, extra: &str) -> Vec<u8> {
        format!(
            r#"{{"jsonrpc":"2.0","id":"h-{name}",{method},"params":{{"name":"{}","arguments":{}{extra}}}}}"#,
            self.t.tool,
            (self.t.args)(name)
        )
        .into_bytes()
        .into_iter()
        .chain(*b"\n")
        .collect()
    }

    /// A ping whose id is the entry's own id with `-ping` appended, without a line end.
    fn ping(&self, name: &str) -> Vec<u8> {
        format!("{{\"jsonrpc\":\"2.0\",\"id\":\"h-{name}-ping\",\"method\":\"ping\"}}").into_bytes()
    }

    fn call(&self, name: &str, extra: &str) -> Vec<u8> {
        self.raw(name, r#""method":"tools/call""#, extra)
    }

    /// A call whose `_meta.x` is `value` (JSON text, maybe not valid JSON).
    fn meta(&self, name: &str, value: &str) -> Vec<u8> {
        self.call(name, &format!(r#","_meta":{{"x":{value}}}"#))
    }

    fn call_with_name(&self, name: &str, name_members: &str) -> Vec<u8> {
        format!(
            r#"{{"jsonrpc":"2.0","id":"h-{name}","method":"tools/call","params":{{{name_members},"arguments":{}}}}}"#,
            (self.t.args)(name)
        )
        .into_bytes()
        .into_iter()
        .chain(*b"\n")
        .collect()
    }

    fn call_custom(&self, name: &str, arguments_members: &str) -> Vec<u8> {
        format!(
            r#"{{"jsonrpc":"2.0","id":"h-{name}","method":"tools/call","params":{{"name":"{}",{arguments_members}}}}}"#,
            self.t.tool
        )
        .into_bytes()
        .into_iter()
        .chain(*b"\n")
        .collect()
    }

    fn batch(&self, items: &[Vec<u8>]) -> Vec<u8> {
        let inner: Vec<&[u8]> = items.iter().map(|i| i.trim_ascii_end()).collect();
        [&b"["[..], &inner.join(&b","[..]), b"]\n"].concat()
    }
}

fn utf16le(line: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(line.trim_ascii_end()).into_owned();
    let mut out: Vec<u8> = vec![0xff, 0xfe];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out.push(b'\n');
    out
}

trait ReplaceBytes {
    fn replace_bytes(self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl ReplaceBytes for Vec<u8> {
    /// Replaces the first occurrence (every entry changes one spot).
    fn replace_bytes(self, from: &[u8], to: &[u8]) -> Vec<u8> {
        match self.windows(from.len()).position(|w| w == from) {
            Some(i) => [&self[..i], to, &self[i + from.len()..]].concat(),
            None => panic!(
                "{:?} not in {:?}",
                String::from_utf8_lossy(from),
                String::from_utf8_lossy(&self)
            ),
        }
    }
}
