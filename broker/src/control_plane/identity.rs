//! Identities (C15, C16): users (a bcrypt password or single sign-on), service accounts, and
//! API keys scoped to one cluster (the Kafka APIs) or to the cloud API. A key's secret exists
//! in clear only in the response that created it; here it is a bcrypt hash.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::security::secrets::SecretHash;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// `u-…`
    pub id: String,
    pub email: String,
    pub full_name: String,
    /// `None`: the user signs in only through the identity provider.
    pub password_hash: Option<SecretHash>,
    /// Organization admins are super-users of the cloud API and of every cluster.
    pub organization_admin: bool,
    pub created_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceAccount {
    /// `sa-…`
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub created_at_ms: u64,
}

/// What a key opens.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyScope {
    /// The Kafka APIs of one logical cluster (`lkc-…`).
    Cluster(String),
    /// The control plane's REST API.
    Cloud,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// The key id, which is also the SASL username.
    pub id: String,
    pub display_name: String,
    /// A user (`u-…`) or a service account (`sa-…`).
    pub owner_id: String,
    pub scope: ApiKeyScope,
    pub secret_hash: SecretHash,
    /// The key this one rotated (both stay valid until the old one is deleted).
    pub rotated_from: Option<String>,
    pub created_at_ms: u64,
}

/// The claims a signed assertion of the identity provider carries (a compact JWS-like token:
/// `base64url(claims).base64url(Ed25519 signature over the first part)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssertionClaims {
    /// The identity provider.
    pub iss: String,
    /// The user's email.
    pub sub: String,
    /// Must be this control plane.
    pub aud: String,
    /// Issued at and expiry, Unix seconds.
    pub iat: u64,
    pub exp: u64,
    /// A unique id: an assertion is accepted once.
    pub jti: String,
}

/// Why an assertion was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    /// Not two base64url parts, or claims that are not the expected JSON.
    #[error("malformed assertion")]
    Malformed,
    /// The signature does not verify under the identity provider's key.
    #[error("assertion signature does not verify")]
    BadSignature,
    /// Issued by someone else or for another audience.
    #[error("assertion issuer or audience is wrong")]
    WrongParty,
    /// Past `exp`, or issued in the future.
    #[error("assertion expired or not yet valid")]
    Expired,
    /// Its `jti` was already used.
    #[error("assertion replayed")]
    Replayed,
}

pub const ASSERTION_AUDIENCE: &str = "faultline-control-plane";
/// Clock skew tolerated between the identity provider and us.
const ASSERTION_SKEW_S: u64 = 60;

/// Checks signature, parties and time; the caller checks `jti` against those already seen.
pub fn verify_assertion(
    token: &str,
    idp_issuer: &str,
    idp_public_key: &[u8],
    now_s: u64,
) -> Result<AssertionClaims, AssertionError> {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (claims_b64, signature_b64) = token.split_once('.').ok_or(AssertionError::Malformed)?;
    let signature = engine.decode(signature_b64).map_err(|_| AssertionError::Malformed)?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, idp_public_key)
        .verify(claims_b64.as_bytes(), &signature)
        .map_err(|_| AssertionError::BadSignature)?;
    let claims: AssertionClaims = engine
        .decode(claims_b64)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(AssertionError::Malformed)?;
    if claims.iss != idp_issuer || claims.aud != ASSERTION_AUDIENCE {
        return Err(AssertionError::WrongParty);
    }
    if now_s >= claims.exp || claims.iat > now_s + ASSERTION_SKEW_S {
        return Err(AssertionError::Expired);
    }
    Ok(claims)
}

/// Signs claims as the identity provider would (the harness's and `broker dev`'s IdP).
pub fn sign_assertion(claims: &AssertionClaims, key: &ring::signature::Ed25519KeyPair) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims_b64 = engine.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signature = key.sign(claims_b64.as_bytes());
    format!("{claims_b64}.{}", engine.encode(signature.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idp() -> ring::signature::Ed25519KeyPair {
        ring::signature::Ed25519KeyPair::from_seed_unchecked(&[3; 32]).unwrap()
    }

    fn claims(exp: u64) -> AssertionClaims {
        AssertionClaims {
            iss: "idp".into(),
            sub: "ada@example.com".into(),
            aud: ASSERTION_AUDIENCE.into(),
            iat: 1_000,
            exp,
            jti: "a1".into(),
        }
    }

    #[test]
    fn assertions_verify_only_when_signed_by_the_idp_and_current() {
        use ring::signature::KeyPair;
        let key = idp();
        let public = key.public_key().as_ref().to_vec();
        let token = sign_assertion(&claims(2_000), &key);
        assert_eq!(verify_assertion(&token, "idp", &public, 1_500).unwrap().sub, "ada@example.com");
        assert_eq!(verify_assertion(&token, "idp", &public, 2_000), Err(AssertionError::Expired));
        assert_eq!(verify_assertion(&token, "other-idp", &public, 1_500), Err(AssertionError::WrongParty));
        let forger = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[4; 32]).unwrap();
        let forged = sign_assertion(&claims(2_000), &forger);
        assert_eq!(verify_assertion(&forged, "idp", &public, 1_500), Err(AssertionError::BadSignature));
        // A changed claim under the old signature.
        let (_, signature) = token.split_once('.').unwrap();
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let altered = format!("{}.{signature}", engine.encode(serde_json::to_vec(&claims(9_999)).unwrap()));
        assert_eq!(verify_assertion(&altered, "idp", &public, 1_500), Err(AssertionError::BadSignature));
        assert_eq!(verify_assertion("garbage", "idp", &public, 1_500), Err(AssertionError::Malformed));
    }
}
