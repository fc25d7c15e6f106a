//! What a submitted call must be before it is judged.

use crate::protocol::{ActionRequest, MAX_NAME_LEN, MAX_TEXT_LEN};
use crate::server::error::ApiError;
use crate::server::roster::{Agent, OnBehalfOfError};

pub(super) fn validate(req: &ActionRequest) -> Result<(), ApiError> {
    check_len("tool", &req.tool, MAX_NAME_LEN, true)?;
    check_len("session", &req.session, MAX_NAME_LEN, true)?;
    for (field, v) in [("on_behalf_of", &req.on_behalf_of), ("parent", &req.parent)] {
        if let Some(v) = v {
            check_len(field, v, MAX_NAME_LEN, false)?;
        }
    }
    if let Some(r) = &req.rationale {
        check_len("rationale", r, MAX_TEXT_LEN, false)?;
    }
    if let Some(c) = req.cost {
        let max = crate::server::policy::MAX_COST;
        if !c.is_finite() || !(0.0..=max).contains(&c) {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("`cost` must be a number from 0 to {max:e}"),
            ));
        }
    }
    if !req.context.is_object() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`context` must be a JSON object",
        ));
    }
    Ok(())
}

/// A `wait_budget_secs` that says when the agent gives up: positive, finite, at most a week.
pub(super) fn wait_budget(secs: Option<f64>) -> Result<(), ApiError> {
    match secs {
        Some(secs) => crate::protocol::agent_deadline(chrono::Utc::now(), secs)
            .map(|_| ())
            .map_err(|e| ApiError::bad_request("invalid_request", e)),
        None => Ok(()),
    }
}

/// The roster person the call is on behalf of: one the agent may act for, or none if it acts
/// for nobody.
pub(super) fn on_behalf_of(agent: &Agent, named: Option<&str>) -> Result<Option<String>, ApiError> {
    agent.on_behalf_of(named).map_err(|e| match e {
        OnBehalfOfError::NotAllowed { .. } => {
            ApiError::forbidden("on_behalf_of_not_allowed", e.to_string())
        }
        OnBehalfOfError::Required { .. } => {
            ApiError::bad_request("on_behalf_of_required", e.to_string())
        }
    })
}

fn check_len(field: &str, value: &str, max: usize, required: bool) -> Result<(), ApiError> {
    if required && value.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("`{field}` must not be empty"),
        ));
    }
    if value.len() > max {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("`{field}` is {} bytes; at most {max} allowed", value.len()),
        ));
    }
    Ok(())
}
