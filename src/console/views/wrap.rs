//! Word wrap that keeps a line's indent: a wrapped JSON value, rationale or reason continues
//! under where its text started, not at the left edge where it would read as a new key or
//! field. The detail views wrap with this and then know exactly how many rows they take.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Where a line's continuation rows start: under its text (after the leading spaces) or, for a
/// `Label      value` line, under the value. Capped so that a deep indent still leaves room.
fn hang(text: &str, width: usize) -> usize {
    let lead = text.len() - text.trim_start_matches(' ').len();
    let rest = &text[lead..];
    // A label padded with two or more spaces, early in the line: continue under the value.
    let label = rest
        .find("  ")
        .filter(|&i| i > 0 && lead + i < 24)
        .map(|i| {
            let after = rest[i..].len() - rest[i..].trim_start_matches(' ').len();
            lead + rest[..i].width() + after
        });
    label.unwrap_or(lead).min(width / 2)
}

/// `line` broken into rows of at most `width` columns, at spaces where it can, inside a word
/// where it must; every row after the first starts at the line's hanging indent.
pub fn wrap_line(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    if line.width() <= width {
        return vec![line];
    }
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let indent = hang(&text, width);
    // Characters with their styles, then words (a word keeps its trailing spaces).
    let chars: Vec<(char, Style)> = line
        .spans
        .iter()
        .flat_map(|s| s.content.chars().map(move |c| (c, s.style)))
        .collect();
    let mut words: Vec<&[(char, Style)]> = Vec::new();
    let mut start = 0;
    for i in 1..=chars.len() {
        let boundary = i == chars.len() || (chars[i - 1].0 == ' ' && chars[i].0 != ' ');
        if boundary {
            words.push(&chars[start..i]);
            start = i;
        }
    }
    let mut rows: Vec<Vec<(char, Style)>> = vec![Vec::new()];
    // Where the current row's text starts: 0 on the first row, the indent after.
    let mut base = 0;
    let mut col = 0;
    let w = |c: char| c.width().unwrap_or(0);
    for word in words {
        let visible: usize = word
            .iter()
            .rev()
            .skip_while(|c| c.0 == ' ')
            .map(|c| w(c.0))
            .sum();
        if col + visible > width && col > base {
            rows.push(vec![(' ', Style::default()); indent]);
            (base, col) = (indent, indent);
        }
        for &(c, st) in word {
            let cw = w(c);
            if col + cw > width && c == ' ' {
                continue; // spaces at the end of a row are dropped
            }
            if col + cw > width && col > base {
                rows.push(vec![(' ', Style::default()); indent]);
                (base, col) = (indent, indent);
            }
            if let Some(r) = rows.last_mut() {
                r.push((c, st));
            }
            col += cw;
        }
    }
    rows.into_iter()
        .map(|r| {
            let mut l = styled(r).style(line.style);
            l.alignment = line.alignment;
            l
        })
        .collect()
}

/// Characters back into spans, one per run of the same style.
fn styled(mut chars: Vec<(char, Style)>) -> Line<'static> {
    while chars.last().is_some_and(|c| c.0 == ' ') {
        chars.pop();
    }
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut run = String::new();
    let mut style = None;
    for (c, st) in chars {
        if style.is_some_and(|s| s != st) {
            spans.push(Span::styled(
                std::mem::take(&mut run),
                style.unwrap_or_default(),
            ));
        }
        style = Some(st);
        run.push(c);
    }
    if !run.is_empty() {
        spans.push(Span::styled(run, style.unwrap_or_default()));
    }
    Line::from(spans)
}

/// Every line wrapped to `width`.
pub fn wrap_lines(lines: Vec<Line<'static>>, width: usize) -> Vec<Line<'static>> {
    lines
        .into_iter()
        .flat_map(|l| wrap_line(l, width))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str, width: usize) -> Vec<String> {
        wrap_line(Line::from(text.to_string()), width)
            .iter()
            .map(|l| l.to_string())
            .collect()
    }

    #[test]
    fn indented_text_continues_under_itself() {
        assert_eq!(
            rows("  Customer reported a double charge on order o-17", 24),
            vec![
                "  Customer reported a",
                "  double charge on order",
                "  o-17"
            ]
        );
    }

    #[test]
    fn a_label_line_continues_under_its_value() {
        assert_eq!(
            rows(
                "Reason        Refunds above $1,000 need a finance approver",
                36
            ),
            vec![
                "Reason        Refunds above $1,000",
                "              need a finance",
                "              approver"
            ]
        );
    }

    #[test]
    fn a_long_json_string_breaks_inside_and_keeps_its_indent() {
        let r = rows(
            r#"    "sql": "UPDATE_orders_SET_status_void_WHERE_id_17""#,
            24,
        );
        assert_eq!(
            r,
            vec![
                r#"    "sql":"#,
                r#"    "UPDATE_orders_SET_s"#,
                r#"    tatus_void_WHERE_id_"#,
                r#"    17""#
            ]
        );
        assert!(r.iter().all(|l| l.width() <= 24));
    }

    #[test]
    fn styles_survive_the_wrap() {
        let bold = Style::default().add_modifier(ratatui::style::Modifier::BOLD);
        let line = Line::from(vec![Span::raw("  "), Span::styled("aaaa bbbb cccc", bold)]);
        let out = wrap_line(line, 8);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|l| l.spans.iter().any(|s| s.style == bold)));
        assert_eq!(out[1].to_string(), "  bbbb");
    }
}
