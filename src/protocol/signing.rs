//! Ed25519 identities for people and the server, and signatures over canonical JSON.
//!
//! Every signature covers `gavel-v1:<purpose>:` followed by the RFC 8785 canonical JSON of the
//! payload, so a signature made for one purpose (say, a decision) can never be replayed as another
//! (say, a kill-switch flip).

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::Serialize;

use super::canonical::{canonical_bytes, CanonicalError};

/// What a signature is for; part of the signed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Decision,
    KillSwitch,
    FlagReview,
    StreamAuth,
    Request,
    Checkpoint,
    Extend,
    Claim,
    Snooze,
    Reassign,
    Grant,
    GrantRevoke,
    BreakerReset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Decision => "decision",
            Purpose::KillSwitch => "killswitch",
            Purpose::FlagReview => "flag-review",
            Purpose::StreamAuth => "stream-auth",
            Purpose::Request => "request",
            Purpose::Checkpoint => "checkpoint",
            Purpose::Extend => "extend",
            Purpose::Claim => "claim",
            Purpose::Snooze => "snooze",
            Purpose::Reassign => "reassign",
            Purpose::Grant => "grant",
            Purpose::GrantRevoke => "grant-revoke",
            Purpose::BreakerReset => "breaker-reset",
        }
    }
}

pub fn signed_message<T: Serialize + ?Sized>(
    purpose: Purpose,
    payload: &T,
) -> Result<Vec<u8>, CanonicalError> {
    let mut msg = format!("gavel-v1:{}:", purpose.as_str()).into_bytes();
    msg.extend(canonical_bytes(payload)?);
    Ok(msg)
}

/// Payloads that always have a canonical form: only strings, booleans, integers and JSON values
/// (which cannot hold a non-finite number or a duplicate key). Only these may be signed with the
/// infallible [`PersonKey::sign`]; anything else goes through [`PersonKey::try_sign`].
pub trait AlwaysCanonical: Serialize {}

impl AlwaysCanonical for serde_json::Value {}
impl AlwaysCanonical for super::wire::DecisionBody {}
impl AlwaysCanonical for super::wire::KillSwitchBody {}
impl AlwaysCanonical for super::wire::FlagReviewBody {}
impl AlwaysCanonical for super::stream::StreamAuth {}
impl AlwaysCanonical for super::wire::SignedRequest {}
impl AlwaysCanonical for super::handling::ExtendBody {}
impl AlwaysCanonical for super::handling::ClaimBody {}
impl AlwaysCanonical for super::handling::SnoozeBody {}
impl AlwaysCanonical for super::handling::ReassignBody {}
impl AlwaysCanonical for super::grants::GrantBody {}
impl AlwaysCanonical for super::grants::GrantRevokeBody {}
impl AlwaysCanonical for super::governance::BreakerResetBody {}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("a public key must look like ed25519:<base64 of 32 bytes>")]
    BadPublicKey,
    #[error("a private key must look like ed25519:<base64 of 32 bytes>")]
    BadPrivateKey,
    #[error("key file {path}: {message}")]
    File { path: String, message: String },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("signature is not base64 of 64 bytes")]
    Malformed,
    #[error("signature does not verify")]
    Invalid,
    #[error("the signed payload {0}")]
    Unencodable(CanonicalError),
}

/// A person's or the server's public key, written `ed25519:<base64>`.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let b64 = text
            .trim()
            .strip_prefix("ed25519:")
            .ok_or(KeyError::BadPublicKey)?;
        let bytes: [u8; 32] = B64
            .decode(b64)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::BadPublicKey)?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| KeyError::BadPublicKey)
    }

    pub fn verify<T: Serialize + ?Sized>(
        &self,
        purpose: Purpose,
        payload: &T,
        signature: &str,
    ) -> Result<(), SignatureError> {
        let bytes: [u8; 64] = B64
            .decode(signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(SignatureError::Malformed)?;
        let sig = ed25519_dalek::Signature::from_bytes(&bytes);
        let message = signed_message(purpose, payload).map_err(SignatureError::Unencodable)?;
        self.0
            .verify_strict(&message, &sig)
            .map_err(|_| SignatureError::Invalid)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519:{}", B64.encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A private key with the id of whoever holds it (a roster person, or `server`).
pub struct PersonKey {
    pub id: String,
    key: SigningKey,
}

impl fmt::Debug for PersonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonKey({}, {})", self.id, self.public())
    }
}

#[derive(serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    id: String,
    private: String,
}

impl PersonKey {
    pub fn generate(id: impl Into<String>) -> Self {
        let mut seed = [0u8; 32];
        // The OS random source failing is not recoverable and must not yield a weak key.
        getrandom::fill(&mut seed).expect("the operating system's random source failed");
        PersonKey {
            id: id.into(),
            key: SigningKey::from_bytes(&seed),
        }
    }

    pub fn from_private(id: impl Into<String>, private: &str) -> Result<Self, KeyError> {
        let b64 = private
            .trim()
            .strip_prefix("ed25519:")
            .ok_or(KeyError::BadPrivateKey)?;
        let seed: [u8; 32] = B64
            .decode(b64)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::BadPrivateKey)?;
        Ok(PersonKey {
            id: id.into(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    /// Signs any payload; one without a canonical form is an error, never signed.
    pub fn try_sign<T: Serialize + ?Sized>(
        &self,
        purpose: Purpose,
        payload: &T,
    ) -> Result<String, CanonicalError> {
        let message = signed_message(purpose, payload)?;
        Ok(B64.encode(self.key.sign(&message).to_bytes()))
    }

    /// Signs one of gavel's own request bodies, which always have a canonical form.
    pub fn sign<T: AlwaysCanonical>(&self, purpose: Purpose, payload: &T) -> String {
        self.try_sign(purpose, payload)
            .expect("strings, booleans, integers and JSON values always have a canonical form")
    }

    pub fn to_file_text(&self) -> String {
        let file = KeyFile {
            id: self.id.clone(),
            private: format!("ed25519:{}", B64.encode(self.key.to_bytes())),
        };
        format!(
            "# gavel private key: keep it secret (mode 0600)\n{}",
            toml::to_string(&file).unwrap_or_default()
        )
    }

    /// Writes the key with mode 0600, refusing to overwrite an existing file.
    pub fn write_new(&self, path: &Path) -> Result<(), KeyError> {
        use std::io::Write;
        let err = |message: String| KeyError::File {
            path: path.display().to_string(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                err("already exists; refusing to overwrite a key".into())
            } else {
                err(e.to_string())
            }
        })?;
        file.write_all(self.to_file_text().as_bytes())
            .map_err(|e| err(e.to_string()))
    }

    /// Reads a key file, refusing one that group or others can read.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let err = |message: String| KeyError::File {
            path: path.display().to_string(),
            message,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(err(format!(
                    "is readable by group or others (mode {mode:04o}); run: chmod 600 {}",
                    path.display()
                )));
            }
        }
        let _ = meta;
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let file: KeyFile = toml::from_str(&text).map_err(|e| err(e.message().to_string()))?;
        PersonKey::from_private(file.id, &file.private).map_err(|e| err(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sign_verify_and_purpose_separation() {
        let k = PersonKey::generate("alice");
        let payload = json!({"escalation": "e-1", "verdict": "approve"});
        let sig = k.sign(Purpose::Decision, &payload);
        let pk = PublicKey::parse(&k.public().to_string()).unwrap();
        assert_eq!(pk.verify(Purpose::Decision, &payload, &sig), Ok(()));
        assert_eq!(
            pk.verify(Purpose::KillSwitch, &payload, &sig),
            Err(SignatureError::Invalid)
        );
        let changed = json!({"escalation": "e-2", "verdict": "approve"});
        assert_eq!(
            pk.verify(Purpose::Decision, &changed, &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            pk.verify(Purpose::Decision, &payload, "bad"),
            Err(SignatureError::Malformed)
        );
        let other = PersonKey::generate("mallory");
        assert_eq!(
            other.public().verify(Purpose::Decision, &payload, &sig),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn malformed_public_keys_are_refused() {
        for bad in ["", "ed25519:", "ed25519:!!!", "rsa:AAAA", "ed25519:AAAA"] {
            assert_eq!(PublicKey::parse(bad), Err(KeyError::BadPublicKey), "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/alice.key");
        let k = PersonKey::generate("alice");
        k.write_new(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = PersonKey::read(&path).unwrap();
        assert_eq!(back.id, "alice");
        assert_eq!(back.public(), k.public());
        assert!(k
            .write_new(&path)
            .unwrap_err()
            .to_string()
            .contains("refusing to overwrite"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = PersonKey::read(&path).unwrap_err().to_string();
        assert!(
            e.contains("readable by group or others") && e.contains("chmod 600"),
            "{e}"
        );
    }
}
