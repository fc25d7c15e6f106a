//! The checks every signed request shares: who signed it, that it was signed recently (its time
//! within the allowed clock skew) and, for one-shot requests, that it was not used before. Reads
//! (signed headers) and writes (signed bodies) use the same checks and the same answers.

use super::error::ApiError;
use super::refusals::truncate;
use super::roster::{Person, Roster};
use super::store::{self, Store};
use crate::protocol::signing::Purpose;
use crate::protocol::{
    PublicKey, SignedBreakerReset, SignedDecision, SignedFlagReview, SignedKillSwitch, Timestamp,
    MAX_CLOCK_SKEW_SECS,
};

/// A signed time that cannot be accepted. Both are `400`: the request is well signed but its
/// content is wrong (docs/PROTOCOL.md, Errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedTimeError {
    #[error("`{field}` must be an RFC 3339 time")]
    Unparseable { field: &'static str },
    #[error(
        "`{field}` is {skew}s from the server's clock (at most {MAX_CLOCK_SKEW_SECS}s): sign again"
    )]
    Stale { field: &'static str, skew: i64 },
}

impl SignedTimeError {
    pub fn code(&self) -> &'static str {
        match self {
            SignedTimeError::Unparseable { .. } => "invalid_request",
            SignedTimeError::Stale { .. } => "stale_signature",
        }
    }
}

impl From<SignedTimeError> for ApiError {
    fn from(e: SignedTimeError) -> Self {
        ApiError::bad_request(e.code(), e.to_string())
    }
}

/// Is the signed time `value` (of the field `field`) within the allowed skew of `now`?
pub fn check_signed_time(
    field: &'static str,
    value: &str,
    now: Timestamp,
) -> Result<(), SignedTimeError> {
    let t: Timestamp = chrono::DateTime::parse_from_rfc3339(value)
        .map_err(|_| SignedTimeError::Unparseable { field })?
        .into();
    let skew = (now - t).num_seconds().abs();
    if skew > MAX_CLOCK_SKEW_SECS {
        return Err(SignedTimeError::Stale { field, skew });
    }
    Ok(())
}

/// A body signed by a person: who signs it, and whether a key verifies the signature.
pub trait SignedBody {
    fn signer(&self) -> &str;
    fn signature(&self) -> &str;
    fn verifies(&self, key: &PublicKey) -> bool;
}

impl SignedBody for SignedDecision {
    fn signature(&self) -> &str {
        &self.signature
    }
    fn signer(&self) -> &str {
        &self.body.approver
    }
    fn verifies(&self, key: &PublicKey) -> bool {
        key.verify(Purpose::Decision, &self.body, &self.signature)
            .is_ok()
    }
}

impl SignedBody for SignedKillSwitch {
    fn signature(&self) -> &str {
        &self.signature
    }
    fn signer(&self) -> &str {
        &self.body.operator
    }
    fn verifies(&self, key: &PublicKey) -> bool {
        key.verify(Purpose::KillSwitch, &self.body, &self.signature)
            .is_ok()
    }
}

impl SignedBody for SignedBreakerReset {
    fn signature(&self) -> &str {
        &self.signature
    }
    fn signer(&self) -> &str {
        &self.body.operator
    }
    fn verifies(&self, key: &PublicKey) -> bool {
        key.verify(Purpose::BreakerReset, &self.body, &self.signature)
            .is_ok()
    }
}

impl SignedBody for SignedFlagReview {
    fn signature(&self) -> &str {
        &self.signature
    }
    fn signer(&self) -> &str {
        &self.body.reviewer
    }
    fn verifies(&self, key: &PublicKey) -> bool {
        key.verify(Purpose::FlagReview, &self.body, &self.signature)
            .is_ok()
    }
}

/// A signed body whose signer is a roster person and whose signature verifies with their key.
/// Only [`verify`] makes one, so the parts that act on it never check the signature again.
pub struct Verified<T> {
    pub body: T,
    pub signer: Person,
}

/// `body`, once its signer is a roster person whose key verifies it.
pub fn verify<T: SignedBody>(roster: &Roster, body: T) -> Result<Verified<T>, ApiError> {
    let Some(person) = roster.person(body.signer()) else {
        return Err(ApiError::forbidden(
            "unknown_signer",
            format!(
                "\"{}\" is not a person in the roster",
                truncate(body.signer(), 64)
            ),
        ));
    };
    if !body.verifies(&person.key) {
        return Err(ApiError::unauthorized(
            "bad_signature",
            "the signature does not verify with the signer's roster key",
        ));
    }
    Ok(Verified {
        signer: person.clone(),
        body,
    })
}

/// One-shot signed requests (flips, reviews) are refused when their signature was used before.
/// Callers serialise this check with the write that records the signature.
pub async fn check_fresh_signature(store: &Store, signature: &str) -> Result<(), ApiError> {
    let sig = signature.to_string();
    if store
        .read(move |c| store::signature_used(c, &sig))
        .await
        .map_err(ApiError::storage)?
    {
        return Err(ApiError::conflict(
            "replayed",
            "this signed request was already used; sign a new one",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    fn at(secs: i64) -> String {
        let t = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap() + Duration::seconds(secs);
        t.to_rfc3339()
    }

    #[test]
    fn a_time_within_the_skew_either_way_is_fresh() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap();
        for secs in [0, MAX_CLOCK_SKEW_SECS, -MAX_CLOCK_SKEW_SECS] {
            assert_eq!(check_signed_time("issued_at", &at(secs), now), Ok(()));
        }
    }

    #[test]
    fn a_time_past_the_skew_is_stale_and_a_non_time_is_invalid() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap();
        for secs in [MAX_CLOCK_SKEW_SECS + 1, -MAX_CLOCK_SKEW_SECS - 1] {
            let e = check_signed_time("x-gavel-time", &at(secs), now).unwrap_err();
            assert_eq!(e.code(), "stale_signature");
            let api = ApiError::from(e);
            assert_eq!(api.status.as_u16(), 400);
            assert!(api.message.contains("x-gavel-time"), "{}", api.message);
        }
        let e = check_signed_time("issued_at", "yesterday", now).unwrap_err();
        assert_eq!(
            (e.code(), ApiError::from(e).status.as_u16()),
            ("invalid_request", 400)
        );
    }
}
