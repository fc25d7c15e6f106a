//! The cursor follows the item, never the row number: each view's selection is a key (an
//! escalation id, an action id, a kill switch scope), and after anything changes the rows the
//! cursor is put back on that key's row. Rows inserted above do not move it; when the item is
//! filtered out the cursor goes to the next row shown after it; when the item is gone, to the row
//! that took its place.

use super::state::{State, View};

/// Where the cursor goes among `shown` rows (indices into the unfiltered list, ascending), given
/// the selected item's index in the unfiltered list (if it is still there) and the old position.
fn place(shown: &[usize], item: Option<usize>, old: usize) -> Option<usize> {
    let last = shown.len().checked_sub(1)?;
    Some(match item {
        Some(u) => shown.partition_point(|&r| r < u).min(last),
        None => old.min(last),
    })
}

/// Puts every view's cursor back on its item (or the nearest sensible row).
pub(super) fn reselect_all(s: &mut State) {
    for v in View::ALL {
        reselect(s, v);
    }
}

pub(super) fn reselect(s: &mut State, v: View) {
    let i = v.index();
    let old = s.selected[i];
    let key = s.selected_key[i].clone();
    let key = key.as_deref();
    let (pos, new_key) = match v {
        View::Queue => {
            let mut item = key.and_then(|k| s.pending_index(k, old));
            if s.cursor_untouched && item.is_none_or(|u| s.not_mine(&s.pending[u]).is_some()) {
                item = first_mine(s).or(item);
            }
            // Without a filter the rows are the queue itself: no allocation per event, which
            // matters when a burst of thousands arrives.
            let pos = if s.queue_unfiltered() {
                match item {
                    Some(u) => Some(u),
                    None => s.pending.len().checked_sub(1).map(|l| old.min(l)),
                }
                .map(|p| (p, p))
            } else {
                let rows = s.queue_rows();
                place(&rows, item, old).map(|p| (p, rows[p]))
            };
            match pos {
                Some((p, u)) => (p, Some(s.pending[u].id.clone())),
                None => (0, None),
            }
        }
        View::History => {
            let item = key.and_then(|k| s.history_list().iter().position(|e| e.id == k));
            let rows = s.history_rows();
            match place(&rows, item, old) {
                Some(p) => (p, Some(s.history_list()[rows[p]].id.clone())),
                None => (0, None),
            }
        }
        View::Flagged => {
            let item = key.and_then(|k| s.flagged.iter().position(|f| f.action.id == k));
            let rows = s.flagged_rows();
            match place(&rows, item, old) {
                Some(p) => (p, Some(s.flagged[rows[p]].action.id.clone())),
                None => (0, None),
            }
        }
        View::Metrics => (0, None),
        // Audit records only ever grow at the end: the row number is the item.
        View::Audit => (old.min(s.audit.records.len().saturating_sub(1)), None),
        View::Grants => {
            let rows: Vec<String> = s.grant_rows().iter().map(|g| g.id.clone()).collect();
            let item = key.and_then(|k| rows.iter().position(|x| x == k));
            let shown: Vec<usize> = (0..rows.len()).collect();
            match place(&shown, item, old) {
                Some(p) => (p, Some(rows[p].clone())),
                None => (0, None),
            }
        }
        View::Budgets => {
            let rows = s.budget_keys();
            let item = key.and_then(|k| rows.iter().position(|x| x == k));
            let shown: Vec<usize> = (0..rows.len()).collect();
            match place(&shown, item, old) {
                Some(p) => (p, Some(rows[p].clone())),
                None => (0, None),
            }
        }
        View::KillSwitches => {
            let all = s.switch_scopes();
            let item = key.and_then(|k| all.iter().position(|x| x == k));
            let rows: Vec<usize> = (0..all.len()).filter(|&u| s.matches(&[&all[u]])).collect();
            match place(&rows, item, old) {
                Some(p) => (p, Some(all[rows[p]].clone())),
                None => (0, None),
            }
        }
    };
    s.selected[i] = pos;
    s.selected_key[i] = new_key;
}

/// The first escalation in the queue (as filtered) that I may decide, as an index into
/// `pending`: where the cursor starts, so the console opens on work the person can do.
fn first_mine(s: &State) -> Option<usize> {
    let mine = |u: &usize| s.not_mine(&s.pending[*u]).is_none();
    if s.filter.is_empty() {
        (0..s.pending.len()).find(mine)
    } else {
        s.queue_rows().into_iter().find(mine)
    }
}

/// Moves the current view's cursor to row `pos` (clamped) and selects that row's item.
pub(super) fn move_to(s: &mut State, pos: usize) {
    let v = s.view;
    if v == View::Queue {
        // Only the key moved to, from one listing of the rows: not a copy of every id in a
        // queue of thousands. `update` puts the cursor on it after every key.
        let (pos, item) = if s.queue_unfiltered() {
            let pos = pos.min(s.pending.len().saturating_sub(1));
            (pos, s.pending.get(pos))
        } else {
            let rows = s.queue_rows();
            let pos = pos.min(rows.len().saturating_sub(1));
            (pos, rows.get(pos).map(|&u| &s.pending[u]))
        };
        s.selected_key[0] = item.map(|e| e.id.clone());
        s.selected[0] = pos;
        s.detail_scroll = 0;
        return;
    }
    let keys: Vec<String> = match v {
        View::Queue => Vec::new(),
        View::History => s
            .history_rows()
            .into_iter()
            .map(|u| s.history_list()[u].id.clone())
            .collect(),
        View::Audit => {
            s.selected[v.index()] = pos.min(s.audit.records.len().saturating_sub(1));
            s.detail_scroll = 0;
            return;
        }
        View::Flagged => s
            .flagged_rows()
            .into_iter()
            .map(|u| s.flagged[u].action.id.clone())
            .collect(),
        View::KillSwitches => s.switch_rows().into_iter().map(|r| r.scope).collect(),
        View::Grants => s.grant_rows().iter().map(|g| g.id.clone()).collect(),
        View::Budgets => s.budget_keys(),
        View::Metrics => Vec::new(),
    };
    let pos = pos.min(keys.len().saturating_sub(1));
    s.selected[v.index()] = pos;
    s.selected_key[v.index()] = keys.into_iter().nth(pos);
    s.detail_scroll = 0;
    reselect(s, v);
}

#[cfg(test)]
mod tests {
    use super::place;

    #[test]
    fn the_cursor_goes_to_the_item_then_the_next_shown_then_the_old_place() {
        assert_eq!(place(&[], Some(0), 3), None);
        assert_eq!(place(&[0, 2, 5], Some(2), 0), Some(1), "on the item");
        assert_eq!(
            place(&[0, 2, 5], Some(3), 0),
            Some(2),
            "filtered out: next shown"
        );
        assert_eq!(
            place(&[0, 2, 5], Some(9), 0),
            Some(2),
            "after the last: the last"
        );
        assert_eq!(
            place(&[0, 2, 5], None, 1),
            Some(1),
            "gone: what took its place"
        );
        assert_eq!(
            place(&[0, 2, 5], None, 7),
            Some(2),
            "gone from the end: the last"
        );
    }
}
