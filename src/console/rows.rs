//! What each view lists under the filter, and the item selected in it. (Where the cursor goes
//! when the rows change is `selection`'s job.)

use std::collections::BTreeSet;

use crate::protocol::{ActionSummary, Escalation, FlaggedAction, KillSwitch};

use super::needle::Needle;
use super::state::{State, View};

/// One row of the kill switch view.
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchRow {
    pub scope: String,
    pub state: Option<KillSwitch>,
    pub last_activity: Option<ActionSummary>,
    pub actions: usize,
}

impl State {
    pub(super) fn matches(&self, fields: &[&str]) -> bool {
        Needle::new(&self.filter).is_none_or(|n| n.in_any(fields))
    }

    /// Whether `e` is shown under the filter `needle` (folded once for the whole list).
    pub(super) fn esc_matches(needle: Option<&Needle>, e: &Escalation) -> bool {
        needle.is_none_or(|n| {
            n.in_any(&[&e.id, &e.action.agent, &e.action.tool, &e.rule.id, &e.group])
        })
    }

    /// Indices into `pending` that the filter lets through, in queue order.
    pub fn queue_rows(&self) -> Vec<usize> {
        self.queue_summary().rows.clone()
    }

    /// Whether the queue's rows are `pending` itself: no filter, nothing hidden.
    pub fn queue_unfiltered(&self) -> bool {
        self.queue_len() == self.pending.len()
    }

    /// How many rows the queue shows.
    pub fn queue_len(&self) -> usize {
        self.queue_summary().rows.len()
    }

    pub fn history_rows(&self) -> Vec<usize> {
        let list = self.history_list();
        let needle = Needle::new(&self.filter);
        (0..list.len())
            .filter(|&i| Self::esc_matches(needle.as_ref(), &list[i]))
            .collect()
    }

    pub fn flagged_rows(&self) -> Vec<usize> {
        let needle = Needle::new(&self.filter);
        (0..self.flagged.len())
            .filter(|&i| {
                let f = &self.flagged[i];
                needle.as_ref().is_none_or(|n| {
                    n.in_any(&[&f.action.id, &f.action.agent, &f.action.tool, &f.rule.id])
                })
            })
            .collect()
    }

    /// Every kill switch scope offered, unfiltered: global, then the roster's agents and any
    /// agent switched, then every tool switched and the `RECENT_TOOLS_CAP` tools seen most
    /// recently. The selected scope stays while it is selected, so its row never vanishes
    /// under the cursor.
    pub fn switch_scopes(&self) -> Vec<String> {
        let mut agents: BTreeSet<&str> = self.agents.iter().map(|a| a.id.as_str()).collect();
        let mut tools: BTreeSet<&str> = self.recent_tools.iter().map(String::as_str).collect();
        let selected = self.selected_key[View::KillSwitches.index()].as_deref();
        for scope in self.killswitches.keys().map(String::as_str).chain(selected) {
            if let Some(a) = scope.strip_prefix("agent:") {
                agents.insert(a);
            } else if let Some(t) = scope.strip_prefix("tool:") {
                tools.insert(t);
            }
        }
        let mut scopes = vec!["global".to_string()];
        scopes.extend(agents.into_iter().map(|a| format!("agent:{a}")));
        scopes.extend(tools.into_iter().map(|t| format!("tool:{t}")));
        scopes
    }

    /// The kill switch rows the filter lets through.
    pub fn switch_rows(&self) -> Vec<SwitchRow> {
        self.switch_scopes()
            .into_iter()
            .filter(|s| self.matches(&[s]))
            .map(|scope| {
                let hit = |a: &ActionSummary| match scope.split_once(':') {
                    Some(("agent", id)) => a.agent == id,
                    Some(("tool", t)) => a.tool == t,
                    _ => true,
                };
                SwitchRow {
                    state: self.killswitches.get(&scope).cloned(),
                    last_activity: self.activity.iter().find(|a| hit(a)).cloned(),
                    actions: self.activity.iter().filter(|a| hit(a)).count(),
                    scope,
                }
            })
            .collect()
    }

    /// Where escalation `id` is in `pending`, looking first at queue row `row` (where the
    /// cursor is): the usual case then costs no search of thousands.
    pub fn pending_index(&self, id: &str, row: usize) -> Option<usize> {
        let hint = self.queue_summary().rows.get(row).copied();
        if let Some(i) = hint.filter(|&i| self.pending[i].id == id) {
            return Some(i);
        }
        self.queue_cache.position(self, id)
    }

    fn key(&self, view: View) -> Option<&str> {
        self.selected_key[view.index()].as_deref()
    }

    /// The selected escalation in the queue or history view.
    pub fn selected_escalation(&self) -> Option<&Escalation> {
        match self.view {
            View::Queue => {
                let key = self.key(View::Queue)?;
                self.pending_index(key, self.selected[0])
                    .map(|i| &*self.pending[i])
            }
            View::History => {
                let key = self.key(View::History)?;
                self.history_list().iter().find(|e| e.id == key)
            }
            _ => None,
        }
    }

    pub fn selected_flagged(&self) -> Option<&FlaggedAction> {
        let key = self.key(View::Flagged)?;
        self.flagged.iter().find(|f| f.action.id == key)
    }

    /// The selected kill switch scope.
    pub fn selected_scope(&self) -> Option<&str> {
        self.key(View::KillSwitches)
    }

    pub fn row_count(&self) -> usize {
        match self.view {
            View::Queue => self.queue_len(),
            View::Flagged => self.flagged_rows().len(),
            View::KillSwitches => self.switch_rows().len(),
            View::History => self.history_rows().len(),
            View::Audit => self.audit.records.len(),
            View::Grants => self.grant_rows().len(),
            View::Budgets => self.budget_rows().len(),
            View::Metrics => 0,
        }
    }
}
