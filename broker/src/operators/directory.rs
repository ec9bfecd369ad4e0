//! The staff directory: operators, their TOTP secrets and their roles, on its own disk.
//!
//! - `POST /v1/operators` `{"name", "role", "hours"}` (security admins): a new operator; the
//!   password and the TOTP secret (base32) are in this answer only (the password is kept as a
//!   bcrypt hash).
//! - `DELETE /v1/operators/<name>/role` (security admins): the role ends now (offboarding).
//! - `POST /v1/verify` `{"operator", "password", "code", "role"}` (bastions): yes only for an
//!   operator holding that role, with its password and a TOTP code of now (one step either side)
//!   newer than any it used before.
//! - `GET /v1/operators/<name>/role` (bastions): the role, while it holds.
//!
//! Every refusal and every change is an event in the security log store.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{totp, OperatorRole};
use crate::log::Disk;
use crate::log_store::shipper::SecurityEvents;
use crate::net::http::{wall_clock_ms, ApiRequest, ApiResponse, Responder};
use crate::security::secrets::SecretHash;

const OPERATORS_FILE: &str = "staff/operators.json";
const BODY_BYTES_MAX: usize = 4 * 1024;

/// Who calls the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Creates operators and ends roles.
    Admin,
    /// Asks about second factors and roles.
    Bastion,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Grant {
    role: OperatorRole,
    until_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Operator {
    password_hash: SecretHash,
    /// Hex.
    totp_secret: String,
    grant: Option<Grant>,
    /// The last TOTP step accepted: a code is good once.
    last_step: u64,
}

pub struct StaffDirectory {
    operators: Mutex<BTreeMap<String, Operator>>,
    disk: Arc<dyn Disk>,
    /// Principal to (SHA-256 of its token, what it is).
    principals: BTreeMap<String, (String, Caller)>,
    events: SecurityEvents,
    /// Fresh passwords and TOTP secrets.
    seed: Mutex<rand_chacha::ChaCha20Rng>,
    bcrypt_cost: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOperator {
    name: String,
    role: OperatorRole,
    hours: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Verification {
    operator: String,
    password: String,
    code: String,
    role: OperatorRole,
}

impl StaffDirectory {
    pub fn open(
        disk: Arc<dyn Disk>,
        principals: BTreeMap<String, (String, Caller)>,
        events: SecurityEvents,
        seed: u64,
        bcrypt_cost: u32,
    ) -> std::io::Result<Arc<StaffDirectory>> {
        use rand_core::SeedableRng;
        let operators = match disk.read(OPERATORS_FILE)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other)?,
            None => BTreeMap::new(),
        };
        Ok(Arc::new(StaffDirectory {
            operators: Mutex::new(operators),
            disk,
            principals,
            events,
            seed: Mutex::new(rand_chacha::ChaCha20Rng::seed_from_u64(seed)),
            bcrypt_cost,
        }))
    }

    fn persist(&self, operators: &BTreeMap<String, Operator>) -> std::io::Result<()> {
        self.disk.replace_durably(OPERATORS_FILE, &serde_json::to_vec(operators).expect("JSON"))
    }

    fn refuse(&self, caller: &str, action: &str, status: u16, detail: &str) -> ApiResponse {
        self.events.record("operator", action, caller, "refused", "", detail);
        tracing::info!(caller, action, detail, "staff directory refused");
        let title = match status {
            401 => "Unauthorized",
            403 => "Forbidden",
            _ => "Bad Request",
        };
        ApiResponse::problem(status, title, detail)
    }

    fn create(&self, admin: &str, body: &[u8]) -> ApiResponse {
        let new: NewOperator = match serde_json::from_slice(body) {
            Ok(new) => new,
            Err(error) => return self.refuse(admin, "operator-create", 400, &format!("malformed: {error}")),
        };
        if new.name.is_empty()
            || new.name.len() > 64
            || !new.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return self.refuse(admin, "operator-create", 400, "a name is 1-64 letters, digits or '-'");
        }
        let mut operators = self.operators.lock().unwrap();
        if operators.contains_key(&new.name) {
            return ApiResponse::problem(409, "Conflict", &format!("operator {} exists", new.name));
        }
        let (mut secret, mut password) = ([0u8; 20], [0u8; 18]);
        {
            let mut seed = self.seed.lock().unwrap();
            rand_core::RngCore::fill_bytes(&mut *seed, &mut secret);
            rand_core::RngCore::fill_bytes(&mut *seed, &mut password);
        }
        let password: String = password.iter().map(|b| format!("{b:02x}")).collect();
        let salt: [u8; 16] = secret[..16].try_into().expect("16 bytes");
        let Ok(password_hash) = SecretHash::new(&password, self.bcrypt_cost, salt) else {
            return ApiResponse::problem(500, "Internal Server Error", "cannot hash the password");
        };
        let until_ms = wall_clock_ms() + new.hours.min(24 * 366) * 3_600_000;
        let operator = Operator {
            password_hash,
            totp_secret: secret.iter().map(|b| format!("{b:02x}")).collect(),
            grant: Some(Grant { role: new.role, until_ms }),
            last_step: 0,
        };
        operators.insert(new.name.clone(), operator);
        if self.persist(&operators).is_err() {
            operators.remove(&new.name);
            return ApiResponse::problem(503, "Service Unavailable", "could not be made durable; retry");
        }
        let detail = format!("{} as {:?} until {until_ms}", new.name, new.role);
        self.events.record("operator", "operator-created", admin, "success", "", &detail);
        ApiResponse::json(
            201,
            json!({
                "name": new.name,
                "role": new.role,
                "until_ms": until_ms,
                "password": password,
                "totp_secret": totp::base32(&secret),
            }),
        )
    }

    fn end_role(&self, admin: &str, name: &str) -> ApiResponse {
        let mut operators = self.operators.lock().unwrap();
        let Some(operator) = operators.get_mut(name) else {
            return ApiResponse::problem(404, "Not Found", &format!("no operator {name}"));
        };
        let ended = operator.grant.take();
        if self.persist(&operators).is_err() {
            if let Some(operator) = operators.get_mut(name) {
                operator.grant = ended;
            }
            return ApiResponse::problem(503, "Service Unavailable", "could not be made durable; retry");
        }
        self.events.record("operator", "role-ended", admin, "success", "", name);
        ApiResponse::json(200, json!({ "name": name, "role": null }))
    }

    /// The role `name` holds now, or why none.
    fn grant_of(operators: &BTreeMap<String, Operator>, name: &str, now: u64) -> Result<Grant, &'static str> {
        let operator = operators.get(name).ok_or("no such operator")?;
        match &operator.grant {
            Some(grant) if grant.until_ms > now => Ok(grant.clone()),
            Some(_) => Err("the role expired"),
            None => Err("the role ended"),
        }
    }

    fn verify(&self, bastion: &str, body: &[u8]) -> ApiResponse {
        let asked: Verification = match serde_json::from_slice(body) {
            Ok(asked) => asked,
            Err(error) => return self.refuse(bastion, "mfa-verify", 400, &format!("malformed: {error}")),
        };
        let now = wall_clock_ms();
        let mut operators = self.operators.lock().unwrap();
        let grant = match Self::grant_of(&operators, &asked.operator, now) {
            Ok(grant) if grant.role == asked.role => grant,
            Ok(_) => return self.refuse(&asked.operator, "mfa-verify", 403, "the operator does not hold that role"),
            Err(why) => return self.refuse(&asked.operator, "mfa-verify", 403, why),
        };
        let operator = operators.get_mut(&asked.operator).expect("found above");
        if !operator.password_hash.verify(asked.password.as_bytes()) {
            return self.refuse(&asked.operator, "mfa-verify", 403, "a wrong password");
        }
        let secret = crate::log_store::chain::unhex(&operator.totp_secret).unwrap_or_default();
        let step = match totp::matching_step(&secret, &asked.code, now) {
            Some(step) if step > operator.last_step => step,
            Some(_) => return self.refuse(&asked.operator, "mfa-verify", 403, "a code that was already used (replay)"),
            None => return self.refuse(&asked.operator, "mfa-verify", 403, "a wrong or stale code"),
        };
        let previous = std::mem::replace(&mut operator.last_step, step);
        if self.persist(&operators).is_err() {
            if let Some(operator) = operators.get_mut(&asked.operator) {
                operator.last_step = previous;
            }
            return ApiResponse::problem(503, "Service Unavailable", "could not be made durable; retry");
        }
        self.events.record("operator", "mfa-verify", &asked.operator, "success", "", bastion);
        ApiResponse::json(200, json!({ "role": grant.role, "until_ms": grant.until_ms }))
    }

    fn role(&self, name: &str) -> ApiResponse {
        match Self::grant_of(&self.operators.lock().unwrap(), name, wall_clock_ms()) {
            Ok(grant) => ApiResponse::json(200, json!({ "role": grant.role, "until_ms": grant.until_ms })),
            Err(why) => ApiResponse::problem(403, "Forbidden", why),
        }
    }
}

impl Responder for StaffDirectory {
    const BODY_BYTES_MAX: usize = BODY_BYTES_MAX;

    fn respond(&self, request: &ApiRequest<'_>) -> ApiResponse {
        let Some(principal) =
            crate::net::api::basic_principal(request.authorization, |p| self.principals.get(p).map(|(hash, _)| hash))
        else {
            return self.refuse("unknown", "directory-sign-in", 401, "a known principal and its token are required");
        };
        let caller = self.principals[&principal].1;
        let path = request.path;
        match (caller, request.method, path) {
            (Caller::Admin, "POST", "/v1/operators") => self.create(&principal, request.body),
            (Caller::Admin, "DELETE", _) if path.starts_with("/v1/operators/") && path.ends_with("/role") => {
                self.end_role(&principal, &path["/v1/operators/".len()..path.len() - "/role".len()])
            }
            (Caller::Bastion, "POST", "/v1/verify") => self.verify(&principal, request.body),
            (Caller::Bastion, "GET", _) if path.starts_with("/v1/operators/") && path.ends_with("/role") => {
                self.role(&path["/v1/operators/".len()..path.len() - "/role".len()])
            }
            (_, method, path) => {
                self.refuse(&principal, "directory-call", 403, &format!("{method} {path} is not this caller's"))
            }
        }
    }
}
