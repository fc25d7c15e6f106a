//! The grant part of the approve dialog and the revoke dialog, as data: what has been typed, and
//! the condition "calls like this one" is prefilled with. (What the keys do with them is
//! `grant_keys`'.)

use serde_json::Value;

use crate::protocol::{Escalation, Grant, Vote};

use super::text_field::TextField;

/// The duration a grant from the approve dialog starts with.
pub const DEFAULT_GRANT_FOR: &str = "1h";
/// A string argument longer than this is left out of the prefilled condition.
const PREFILL_STRING_MAX: usize = 200;

/// Which field of the approve dialog the keys go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantFocus {
    Reason,
    Condition,
    Duration,
}

/// The grant part of an approval: off until the person turns it on.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantDraft {
    pub on: bool,
    pub condition: TextField,
    pub duration: TextField,
    pub focus: GrantFocus,
}

impl GrantDraft {
    /// Offered only where the server may accept it: an approval of a review a grant may cover.
    pub fn offer(e: &Escalation, vote: Vote) -> Option<GrantDraft> {
        (vote == Vote::Approve && e.rule.grantable && e.approvals_required == 1).then(|| {
            GrantDraft {
                on: false,
                condition: prefill(&e.action.args).into(),
                duration: DEFAULT_GRANT_FOR.into(),
                focus: GrantFocus::Reason,
            }
        })
    }

    /// Tab: reason → condition → duration → reason (only while the grant is on).
    pub fn next_focus(&mut self) {
        self.focus = match (self.on, self.focus) {
            (false, _) => GrantFocus::Reason,
            (true, GrantFocus::Reason) => GrantFocus::Condition,
            (true, GrantFocus::Condition) => GrantFocus::Duration,
            (true, GrantFocus::Duration) => GrantFocus::Reason,
        };
    }
}

/// The revoke dialog: a reason is required.
#[derive(Debug, Clone, PartialEq)]
pub struct RevokeDraft {
    pub grant: Grant,
    pub reason: TextField,
    pub error: Option<String>,
}

/// Equality on the call's scalar top-level arguments, joined with `&&`: the condition of "calls
/// like this one", for the person to widen or narrow. Nested values, nulls, long or odd strings
/// are left out (the person sees the condition before it is signed).
pub fn prefill(args: &Value) -> String {
    let Value::Object(map) = args else {
        return String::new();
    };
    let mut parts = Vec::new();
    for (k, v) in map {
        let lit = match v {
            Value::Bool(b) => b.to_string(),
            Value::Number(n) if n.is_f64() => match n.as_f64() {
                Some(f) if f.is_finite() => format!("{f:?}"),
                _ => continue,
            },
            Value::Number(n) => n.to_string(),
            Value::String(s)
                if s.chars().count() <= PREFILL_STRING_MAX && !s.chars().any(char::is_control) =>
            {
                format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
            }
            _ => continue,
        };
        let field = if is_ident(k) {
            format!("args.{k}")
        } else if k.chars().any(char::is_control) || k.len() > PREFILL_STRING_MAX {
            continue;
        } else {
            format!("args['{}']", k.replace('\\', "\\\\").replace('\'', "\\'"))
        };
        parts.push(format!("{field} == {lit}"));
    }
    parts.join(" && ")
}

fn is_ident(k: &str) -> bool {
    let mut chars = k.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(k, "true" | "false" | "null" | "in" | "as")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_condition_is_equality_on_scalar_top_level_arguments() {
        let args = json!({"amount": 1500.0, "currency": "usd", "n": 3, "ok": true,
            "nested": {"a": 1}, "none": null, "list": [1], "it's": "o'k\\"});
        assert_eq!(
            prefill(&args),
            "args.amount == 1500.0 && args.currency == 'usd' && \
             args['it\\'s'] == 'o\\'k\\\\' && args.n == 3 && args.ok == true"
        );
        assert_eq!(prefill(&json!("x")), "");
        assert_eq!(prefill(&json!({"s": "a\u{1b}[31m"})), "");
    }
}
