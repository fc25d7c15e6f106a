//! One record another replica wrote, applied here.

use chrono::Utc;

use crate::protocol::ServerMessage;
use crate::server::app::App;
use crate::server::audit::{ActionTaken, AuditEvent};
use crate::server::store::postgres::feed::FeedRecord;
use crate::server::store::{self, RecentAction};

pub(super) async fn record(app: &App, record: FeedRecord) {
    let FeedRecord {
        event, governed, ..
    } = record;
    match &event {
        AuditEvent::Action(a) => action(app, a, governed).await,
        AuditEvent::Killswitch(_) => killswitches(app).await,
        AuditEvent::GrantCreated(_) | AuditEvent::GrantRevoked(_) | AuditEvent::GrantUsed(_) => {
            grants(app).await
        }
        AuditEvent::FlagReview(f) => flag_reviewed(app, &f.action).await,
        AuditEvent::CostReported(c) => {
            app.governance.ledger.cost_reported(&c.action, c.cost);
        }
        AuditEvent::BreakerTripped(_)
        | AuditEvent::BreakerClosed(_)
        | AuditEvent::BreakerReset(_) => {
            app.governance
                .breakers
                .restore_events(std::slice::from_ref(&event));
        }
        _ => {
            // Every change to an escalation (created, voted, handed over, extended, claimed,
            // snoozed, reassigned, withdrawn, resolved) names it: re-read it.
            if let Some(id) = event.index().escalation {
                app.queue.refresh(id).await;
            }
        }
    }
}

/// A call recorded on another replica: counted by governance as if recorded here, and shown
/// to the consoles.
async fn action(app: &App, a: &ActionTaken, governed: Option<String>) {
    let at = a.submitted_at.unwrap_or_else(Utc::now);
    let call = RecentAction {
        id: a.action.clone(),
        agent: a.agent.clone(),
        session: a.session.clone(),
        tool: a.tool.clone(),
        effect: a.effect,
        rule: a.rule.clone(),
        governed,
        cost: a.cost,
        resolution: None,
        at,
    };
    let now = Utc::now();
    let g = &app.governance;
    g.ledger.restore(std::slice::from_ref(&call), now);
    g.breakers.restore(std::slice::from_ref(&call), now);
    g.anomaly.restore(std::slice::from_ref(&call), now);
    let _ = app.bus.send(ServerMessage::Action {
        action: crate::protocol::ActionSummary {
            id: call.id,
            agent: call.agent,
            tool: call.tool,
            session: call.session,
            effect: call.effect,
            rule: call.rule,
            reason: a.reason.clone(),
            at,
            grant: a.grant.clone(),
        },
    });
    if a.effect == crate::protocol::Effect::Flag {
        let id = a.action.clone();
        if let Ok(Some(flagged)) = app.store.read(move |r| store::load_flagged(r, &id)).await {
            let _ = app.bus.send(ServerMessage::Flagged {
                flagged: Box::new(flagged),
            });
        }
    }
}

/// A switch flipped elsewhere: every switch re-read, each changed one taken and announced,
/// and what the switches now cover cancelled here too.
async fn killswitches(app: &App) {
    let stored = match app.store.read(store::killswitches).await {
        Ok(s) => s,
        Err(e) => {
            return tracing::error!("kill switches changed elsewhere, cannot be re-read: {e}")
        }
    };
    for switch in stored {
        if app.kill.get(&switch.scope).as_ref() != Some(&switch) {
            app.kill.set(switch.clone());
            let _ = app
                .bus
                .send(ServerMessage::KillSwitchChanged { killswitch: switch });
        }
    }
    app.queue.cancel_killed().await;
}

async fn grants(app: &App) {
    match app.store.read(store::grants).await {
        Ok(stored) => app.grants.refresh(stored),
        Err(e) => tracing::error!("grants changed elsewhere, cannot be re-read: {e}"),
    }
}

async fn flag_reviewed(app: &App, action: &str) {
    let id = action.to_string();
    if let Ok(Some(flagged)) = app.store.read(move |r| store::load_flagged(r, &id)).await {
        let _ = app.bus.send(ServerMessage::FlagReviewed {
            flagged: Box::new(flagged),
        });
    }
}
