//! The Audit view: the server's audit log through the auditor's filters, paged in from the
//! server as the cursor nears the end; Enter opens a record's whole body. People without the
//! auditor (or lead) role see why they cannot read it.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;
use serde_json::Value;

use crate::protocol::{inert, AuditRecord};

use super::super::audit_query::{may_audit, selected_record, AUDIT_CAP};
use super::super::keymap::{Action, Section};
use super::super::state::{State, View};
use super::detail::render_lines;
use super::format::{clip, title_note, when};
use super::json::json_lines;
use super::layout::window;
use super::lists::render_table;

/// The filter line and the list below it (mouse clicks use the same split).
pub fn split(area: Rect) -> [Rect; 2] {
    Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area)
}

pub fn render(f: &mut Frame, area: Rect, s: &State) {
    let t = &s.theme;
    if !may_audit(s) {
        let who = match &s.me {
            Some(me) => format!("You ({}) do not have it.", inert(&me.id)),
            None => "The server has not said who you are yet (not connected).".into(),
        };
        let p = Paragraph::new(vec![
            Line::default(),
            Line::from(Span::styled(
                "  The Audit view needs the auditor role (or lead).",
                t.fg(t.warning),
            )),
            Line::from(Span::styled(format!("  {who}"), t.muted())),
            Line::from(Span::styled(
                "  Roles are given in the roster; the server refuses the audit log to anyone else.",
                t.muted(),
            )),
        ])
        .wrap(Wrap { trim: false })
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.border())
                .title(Span::styled(" Audit ", t.accent())),
        );
        f.render_widget(p, area);
        return;
    }
    if s.detail_open {
        if let Some(r) = selected_record(s) {
            render_lines(
                f,
                area,
                s,
                &format!("Audit record {}", r.seq),
                record_lines(s, r),
                true,
            );
            return;
        }
    }
    let [filters, list] = split(area);
    let a = &s.audit;
    let shown = |v: &str| {
        if v.is_empty() {
            "any".to_string()
        } else {
            inert(v).into_owned()
        }
    };
    let key = s.keymap.key_for(Section::Audit, Action::Search);
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" Filters: ", t.muted()),
            Span::raw(format!(
                "agent {} · kind {} · since {} · until {}  ",
                shown(&a.agent),
                shown(&a.kind),
                shown(&a.since),
                shown(&a.until)
            )),
            Span::styled(format!("({key} edits)"), t.muted()),
        ])),
        filters,
    );
    let sel = s.selected[View::Audit.index()];
    let height = list.height.saturating_sub(3) as usize;
    let range = window(a.records.len(), sel, height);
    let rows: Vec<Row> = a.records[range.clone()]
        .iter()
        .enumerate()
        .map(|(off, r)| {
            let row = Row::new(vec![
                Cell::from(r.seq.to_string()),
                Cell::from(when(s, r.time)),
                Cell::from(clip(&inert(&r.kind), 20)),
                Cell::from(clip(&inert(&r.actor), 14)),
                Cell::from(clip(&summary(&r.body), 200)),
            ]);
            if range.start + off == sel {
                row.style(t.selected())
            } else {
                row
            }
        })
        .collect();
    let status = match (&a.error, a.loading, a.more) {
        (Some(e), _, _) => format!(" ✗ {e} "),
        (_, Some(_), _) => " … loading from the server ".into(),
        (_, _, true) if a.records.len() >= AUDIT_CAP => {
            format!(" first {AUDIT_CAP} shown: narrow the filters for the rest ")
        }
        (_, _, true) => " more on the server: moving down loads them ".into(),
        _ if !a.ran => " not run yet ".into(),
        _ => " all matching records shown · Enter body ".into(),
    };
    let title = format!(
        " Audit log: {} records loaded {}",
        a.records.len(),
        title_note(s)
    );
    let table = Table::new(
        rows,
        [
            Constraint::Length(7),
            Constraint::Length(19),
            Constraint::Length(20),
            Constraint::Length(14),
            Constraint::Min(10),
        ],
    )
    .header(Row::new(["Seq", "Time (UTC)", "Kind", "Actor", "Body"]).style(t.muted()))
    .block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(t.border())
            .title(Span::styled(title, t.accent()))
            .title_bottom(
                Line::from(Span::styled(
                    status,
                    if a.error.is_some() {
                        t.fg(t.danger)
                    } else {
                        t.muted()
                    },
                ))
                .right_aligned(),
            ),
    );
    let state = TableState::default()
        .with_selected((sel >= range.start && sel < range.end).then(|| sel - range.start));
    render_table(f, list, table, state);
}

/// The body's plain fields as `key=value`, inert (nested values are in the record's detail).
fn summary(body: &Value) -> String {
    let Some(fields) = body.as_object() else {
        return inert(&body.to_string()).into_owned();
    };
    let parts: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| {
            let text = match v {
                Value::String(s) => clip(s, 40),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some(format!("{}={}", inert(k), inert(&text)))
        })
        .collect();
    parts.join(" ")
}

fn record_lines(s: &State, r: &AuditRecord) -> Vec<Line<'static>> {
    let t = &s.theme;
    let kv = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<10}"), t.muted()),
            Span::raw(v),
        ])
    };
    let mut out = vec![
        kv("seq", r.seq.to_string()),
        kv("time", r.time.to_rfc3339()),
        kv("kind", inert(&r.kind).into_owned()),
        kv("actor", inert(&r.actor).into_owned()),
        kv("hash", inert(&r.hash).into_owned()),
        kv("prev", inert(&r.prev_hash).into_owned()),
        Line::default(),
        Line::from(Span::styled("body", t.muted())),
    ];
    out.extend(json_lines(&r.body, t));
    out
}
