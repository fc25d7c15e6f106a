//! Arguments as readable, highlighted JSON. Strings are escaped (serde_json escapes control
//! characters, `inert` catches what it leaves, such as bidi overrides), so nothing an agent put
//! in its arguments can drive the terminal.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use serde_json::Value;

use crate::protocol::inert;

use super::super::theme::Theme;

pub fn json_lines(v: &Value, t: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut cur: Vec<Span<'static>> = Vec::new();
    emit(v, 0, t, &mut cur, &mut out);
    out.push(Line::from(cur));
    out
}

fn quoted(s: &str) -> String {
    let json = serde_json::to_string(s).unwrap_or_else(|_| "\"?\"".into());
    inert(&json).into_owned()
}

fn indent(n: usize) -> Span<'static> {
    Span::raw("  ".repeat(n))
}

fn emit(
    v: &Value,
    depth: usize,
    t: &Theme,
    cur: &mut Vec<Span<'static>>,
    out: &mut Vec<Line<'static>>,
) {
    let punct = t.muted();
    match v {
        Value::Object(map) if !map.is_empty() => {
            cur.push(Span::styled("{", punct));
            let n = map.len();
            for (i, (k, val)) in map.iter().enumerate() {
                out.push(Line::from(std::mem::take(cur)));
                cur.push(indent(depth + 1));
                cur.push(Span::styled(quoted(k), Style::default().fg(t.json_key)));
                cur.push(Span::styled(": ", punct));
                emit(val, depth + 1, t, cur, out);
                if i + 1 < n {
                    cur.push(Span::styled(",", punct));
                }
            }
            out.push(Line::from(std::mem::take(cur)));
            cur.push(indent(depth));
            cur.push(Span::styled("}", punct));
        }
        Value::Array(items) if !items.is_empty() => {
            cur.push(Span::styled("[", punct));
            let n = items.len();
            for (i, val) in items.iter().enumerate() {
                out.push(Line::from(std::mem::take(cur)));
                cur.push(indent(depth + 1));
                emit(val, depth + 1, t, cur, out);
                if i + 1 < n {
                    cur.push(Span::styled(",", punct));
                }
            }
            out.push(Line::from(std::mem::take(cur)));
            cur.push(indent(depth));
            cur.push(Span::styled("]", punct));
        }
        Value::Object(_) => cur.push(Span::styled("{}", punct)),
        Value::Array(_) => cur.push(Span::styled("[]", punct)),
        Value::String(s) => cur.push(Span::styled(quoted(s), Style::default().fg(t.json_string))),
        Value::Number(n) => cur.push(Span::styled(
            n.to_string(),
            Style::default().fg(t.json_number),
        )),
        Value::Bool(b) => cur.push(Span::styled(
            b.to_string(),
            Style::default().fg(t.json_literal),
        )),
        Value::Null => cur.push(Span::styled("null", Style::default().fg(t.json_literal))),
    }
}

/// One-line compact JSON for tables, inert.
pub fn compact(v: &Value) -> String {
    inert(&serde_json::to_string(v).unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_strings_are_escaped() {
        let v =
            serde_json::json!({"k\u{1b}[31m": "a\u{1b}]0;x\u{7}b\u{202e}c", "n": [1, true, null]});
        let lines = json_lines(&v, &Theme::default());
        let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text}");
        assert!(
            text.contains("\\u001b") && text.contains("\\u{202e}"),
            "{text}"
        );
        assert_eq!(lines.len(), 8, "{text}");
    }
}
