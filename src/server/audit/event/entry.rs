//! What callers hand the writer: an event, or (until every call site builds one) a kind and a
//! JSON body that the writer parses into one.

use std::borrow::Cow;

use serde_json::Value;

use super::{AuditEvent, EventError};

/// A record waiting to be appended (seq, time and hashes are assigned by the writer).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry(Entry);

#[derive(Debug, Clone, PartialEq)]
enum Entry {
    Event(AuditEvent),
    /// Built from a kind and a JSON body by a call site not yet converted to [`AuditEvent`];
    /// the writer parses it into one, and refuses it if it does not fit the schema.
    Untyped {
        kind: &'static str,
        actor: String,
        body: Value,
    },
}

impl AuditEntry {
    /// Prefer `AuditEntry::from(AuditEvent::…)`: this form is checked only when written.
    pub fn new(kind: &'static str, actor: impl Into<String>, body: Value) -> Self {
        AuditEntry(Entry::Untyped {
            kind,
            actor: actor.into(),
            body,
        })
    }

    /// The event to append; an untyped entry that does not fit the schema is an error.
    pub fn event(&self) -> Result<Cow<'_, AuditEvent>, EventError> {
        match &self.0 {
            Entry::Event(e) => Ok(Cow::Borrowed(e)),
            Entry::Untyped { kind, actor, body } => {
                AuditEvent::parse(kind, actor, body).map(Cow::Owned)
            }
        }
    }
}

impl From<AuditEvent> for AuditEntry {
    fn from(event: AuditEvent) -> Self {
        AuditEntry(Entry::Event(event))
    }
}
