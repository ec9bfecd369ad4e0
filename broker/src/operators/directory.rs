//! The staff directory: operators, their TOTP secrets and their roles, on its own disk.
//!
//! - `POST /v1/operators` `{"name", "role", "hours"}` (security admins): a new operator; the
//!   password and the TOTP secret (base32) are in this answer only (the password is kept as a
//!   bcrypt hash).
//! - `DELETE /v1/operators/<name>/role` (security admins): the role ends now (offboarding).
//! - `POST /v1/verify` `{"operator", "password", "code", "role"}` (bastions): yes only for an
//!   operator holding that role, with its password and a TOTP code of now (one step either side)
//!   newer than any it used before. Every no is the same answer, whatever failed (the reason is
//!   in the security log only), and after [`LOCKOUT_FAILURES`] failures within
//!   [`LOCKOUT_WINDOW_MS`] a name is refused outright until the oldest of them ages out.
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

/// Failed verifications of one operator name within [`LOCKOUT_WINDOW_MS`] after which the name
/// is locked: a million six-digit codes then take 3,800 years at three live codes a guess.
pub const LOCKOUT_FAILURES: usize = 5;
pub const LOCKOUT_WINDOW_MS: u64 = 15 * 60 * 1000;

/// The one answer to every failed verification. A wrong password, a wrong or replayed code, a
/// role the operator does not hold, an unknown operator and a lockout all read alike: answers
/// that differed would tell a guesser which operators exist and which hold which roles.
pub const VERIFICATION_REFUSED: &str = "the operator, password, code and role do not match";

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
    /// Fresh passwords, their salts and TOTP secrets ([`crate::entropy::os`] in real mode).
    random: Mutex<crate::entropy::Generator>,
    bcrypt_cost: u32,
    /// Checked against the password given for an unknown name, so that such a refusal takes
    /// as long as a wrong password does.
    unknown_operator_hash: SecretHash,
    /// Operator -> when its recent verifications failed (in memory: a restart forgets them).
    /// Only operators that exist: a made-up name can never succeed, and a map of every name
    /// ever tried would be one an attacker could flood to push a real operator's count out.
    failures: Mutex<BTreeMap<String, Vec<u64>>>,
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
        random: crate::entropy::Generator,
        bcrypt_cost: u32,
    ) -> std::io::Result<Arc<StaffDirectory>> {
        let operators = match disk.read(OPERATORS_FILE)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other)?,
            None => BTreeMap::new(),
        };
        let mut random = random;
        let mut salt = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut random, &mut salt);
        let unknown_operator_hash =
            SecretHash::new("no operator has this password", bcrypt_cost, salt).map_err(std::io::Error::other)?;
        Ok(Arc::new(StaffDirectory {
            operators: Mutex::new(operators),
            disk,
            principals,
            events,
            random: Mutex::new(random),
            bcrypt_cost,
            unknown_operator_hash,
            failures: Mutex::default(),
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
        // The salt is a draw of its own: bcrypt stores it in clear in the hash, so a salt cut
        // from the TOTP secret would publish most of the secret to anyone who reads the hash.
        let (mut secret, mut password, mut salt) = ([0u8; 20], [0u8; 18], [0u8; 16]);
        {
            let mut random = self.random.lock().unwrap();
            rand_core::RngCore::fill_bytes(&mut *random, &mut secret);
            rand_core::RngCore::fill_bytes(&mut *random, &mut password);
            rand_core::RngCore::fill_bytes(&mut *random, &mut salt);
        }
        let password: String = password.iter().map(|b| format!("{b:02x}")).collect();
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
        // Checked even when locked out, so that a lockout answers no faster than a wrong
        // password (the time would tell a guesser which names exist and are being guessed at).
        let checked = self.check(&operators, &asked, now);
        if self.locked_out(&asked.operator, now) {
            return self.refuse_verification(&asked.operator, bastion, "locked out: too many recent failures");
        }
        let (step, grant) = match checked {
            Ok(accepted) => accepted,
            Err(why) => {
                if operators.contains_key(&asked.operator) {
                    self.count_failure(&asked.operator, now);
                }
                return self.refuse_verification(&asked.operator, bastion, why);
            }
        };
        let operator = operators.get_mut(&asked.operator).expect("checked above");
        let previous = std::mem::replace(&mut operator.last_step, step);
        if self.persist(&operators).is_err() {
            if let Some(operator) = operators.get_mut(&asked.operator) {
                operator.last_step = previous;
            }
            return ApiResponse::problem(503, "Service Unavailable", "could not be made durable; retry");
        }
        self.failures.lock().unwrap().remove(&asked.operator);
        self.events.record("operator", "mfa-verify", &asked.operator, "success", "", bastion);
        ApiResponse::json(200, json!({ "role": grant.role, "until_ms": grant.until_ms }))
    }

    /// The step of the accepted code and the grant, or why not (for the security log only).
    /// The password is checked first, and for an unknown name too (against a hash no password
    /// matches), so that neither the answer nor its time tells a name that exists from one that
    /// does not.
    fn check(
        &self,
        operators: &BTreeMap<String, Operator>,
        asked: &Verification,
        now: u64,
    ) -> Result<(u64, Grant), &'static str> {
        let Some(operator) = operators.get(&asked.operator) else {
            self.unknown_operator_hash.verify(asked.password.as_bytes());
            return Err("no such operator");
        };
        if !operator.password_hash.verify(asked.password.as_bytes()) {
            return Err("a wrong password");
        }
        // A secret that does not parse verifies nothing (an empty HMAC key has codes too).
        let secret = crate::log_store::chain::unhex(&operator.totp_secret)
            .filter(|secret| secret.len() >= totp::SECRET_BYTES_MIN)
            .ok_or("the operator's TOTP secret is unreadable")?;
        let step = totp::matching_step(&secret, &asked.code, now).ok_or("a wrong or stale code")?;
        if step <= operator.last_step {
            return Err("a code that was already used (replay)");
        }
        let grant = Self::grant_of(operators, &asked.operator, now)?;
        if grant.role != asked.role {
            return Err("the operator does not hold that role");
        }
        Ok((step, grant))
    }

    /// Logs why (the security log is for the people who defend the service) and answers what
    /// every refusal answers.
    fn refuse_verification(&self, operator: &str, bastion: &str, why: &str) -> ApiResponse {
        self.events.record("operator", "mfa-verify", operator, "refused", "", &format!("{why} (via {bastion})"));
        tracing::info!(operator, bastion, why, "staff directory refused a verification");
        ApiResponse::problem(403, "Forbidden", VERIFICATION_REFUSED)
    }

    fn locked_out(&self, name: &str, now: u64) -> bool {
        let mut failures = self.failures.lock().unwrap();
        let Some(times) = failures.get_mut(name) else { return false };
        times.retain(|at| at + LOCKOUT_WINDOW_MS > now);
        times.len() >= LOCKOUT_FAILURES
    }

    /// Counts a failed verification of `name`; the one that locks the name is itself an event.
    fn count_failure(&self, name: &str, now: u64) {
        let mut failures = self.failures.lock().unwrap();
        let times = failures.entry(name.to_string()).or_default();
        times.retain(|at| at + LOCKOUT_WINDOW_MS > now);
        times.push(now);
        if times.len() == LOCKOUT_FAILURES {
            let detail =
                format!("{LOCKOUT_FAILURES} failed verifications within {} minutes", LOCKOUT_WINDOW_MS / 60_000);
            self.events.record("operator", "operator-locked-out", name, "failure", "", &detail);
            tracing::warn!(operator = name, detail, "operator locked out");
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemoryDisk;

    const ADMIN: &str = "security-admin";
    const BASTION: &str = "bastion-a";

    struct Directory {
        directory: Arc<StaffDirectory>,
        outbox: crate::log_store::shipper::Outbox,
    }

    fn basic(principal: &str) -> String {
        use base64::Engine;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{principal}:{principal}-token")))
    }

    impl Directory {
        fn new() -> Directory {
            let principals = BTreeMap::from([
                (ADMIN.to_string(), (crate::net::api::token_hash("security-admin-token"), Caller::Admin)),
                (BASTION.to_string(), (crate::net::api::token_hash("bastion-a-token"), Caller::Bastion)),
            ]);
            let (events, outbox) = SecurityEvents::channel("staff-directory", "test");
            let disk = Arc::new(MemoryDisk::new());
            let directory =
                StaffDirectory::open(disk, principals, events, crate::entropy::seeded_for_tests(3), 4).unwrap();
            Directory { directory, outbox }
        }

        fn call(&self, caller: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
            let body = serde_json::to_vec(&body).unwrap();
            let authorization = basic(caller);
            let request =
                ApiRequest { method: "POST", path, query: "", authorization: Some(&authorization), body: &body };
            let response = self.directory.respond(&request);
            (response.status, serde_json::from_slice(&response.body).unwrap_or_default())
        }

        /// A new operator's (password, TOTP secret).
        fn create(&self, name: &str, role: &str) -> (String, Vec<u8>) {
            let (status, created) = self.call(ADMIN, "/v1/operators", json!({"name": name, "role": role, "hours": 8}));
            assert_eq!(status, 201, "{created}");
            let secret = totp::base32_decode(created["totp_secret"].as_str().unwrap()).unwrap();
            (created["password"].as_str().unwrap().to_string(), secret)
        }

        fn verify(&self, operator: &str, password: &str, code: &str, role: &str) -> (u16, serde_json::Value) {
            let body = json!({"operator": operator, "password": password, "code": code, "role": role});
            self.call(BASTION, "/v1/verify", body)
        }

        fn logged(&mut self) -> Vec<(String, String, String)> {
            std::iter::from_fn(|| self.outbox.take()).map(|e| (e.action, e.outcome, e.detail)).collect()
        }
    }

    fn code_now(secret: &[u8]) -> String {
        totp::code_at(secret, wall_clock_ms())
    }

    fn wrong(code: &str) -> String {
        format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
    }

    #[test]
    fn a_wrong_password_code_role_or_name_gets_one_answer_and_the_log_says_which() {
        let mut staff = Directory::new();
        let (password, secret) = staff.create("ada", "observer");
        let code = code_now(&secret);
        let refusals = [
            staff.verify("ada", "not the password", &code, "observer"),
            staff.verify("ada", &password, &wrong(&code), "observer"),
            staff.verify("ada", &password, &code, "support"),
            staff.verify("nobody", &password, &code, "observer"),
        ];
        for (status, problem) in &refusals {
            assert_eq!(*status, 403);
            assert_eq!(problem["detail"], VERIFICATION_REFUSED, "{problem}");
        }
        assert_eq!(refusals[0].1, refusals[3].1, "an unknown name answers as a wrong password does");
        let logged = staff.logged();
        for why in ["a wrong password", "a wrong or stale code", "does not hold that role", "no such operator"] {
            assert!(
                logged.iter().any(|(_, outcome, detail)| outcome == "refused" && detail.contains(why)),
                "{logged:?}"
            );
        }
        assert_eq!(staff.verify("ada", &password, &code, "observer").0, 200, "the right factors still work");
    }

    #[test]
    fn five_failures_lock_an_operator_out_and_the_lockout_is_logged() {
        let mut staff = Directory::new();
        let (password, secret) = staff.create("ada", "observer");
        let code = code_now(&secret);
        for _ in 0..LOCKOUT_FAILURES {
            assert_eq!(staff.verify("ada", &password, &wrong(&code), "observer").0, 403);
        }
        let (status, problem) = staff.verify("ada", &password, &code, "observer");
        assert_eq!((status, problem["detail"].as_str()), (403, Some(VERIFICATION_REFUSED)), "locked out");
        let logged = staff.logged();
        let lockouts = logged.iter().filter(|(action, _, _)| action == "operator-locked-out").count();
        assert_eq!(lockouts, 1, "{logged:?}");
        assert!(logged.iter().any(|(_, _, detail)| detail.contains("locked out")), "{logged:?}");
        // Names are locked one by one: a guesser at one operator does not lock out another.
        let (bob_password, bob_secret) = staff.create("bob", "observer");
        assert_eq!(staff.verify("bob", &bob_password, &code_now(&bob_secret), "observer").0, 200);
    }

    #[test]
    fn an_unreadable_totp_secret_refuses_every_code() {
        let staff = Directory::new();
        let (password, _) = staff.create("ada", "observer");
        for broken in ["", "not hex", "00ff"] {
            staff.directory.operators.lock().unwrap().get_mut("ada").unwrap().totp_secret = broken.into();
            // What an empty HMAC key's code would be: a secret that failed to parse must not become one.
            let (status, _) = staff.verify("ada", &password, &code_now(b""), "observer");
            assert_eq!(status, 403, "secret {broken:?}");
        }
    }

    #[test]
    fn the_password_salt_is_not_cut_from_the_totp_secret() {
        let staff = Directory::new();
        let (_, secret) = staff.create("ada", "observer");
        let hash = serde_json::to_string(&staff.directory.operators.lock().unwrap()["ada"].password_hash).unwrap();
        // bcrypt's hash carries its salt in clear (radix-64, after the cost).
        let salt_text = &hash.trim_matches('"')[7..29];
        let mut prefix = [0u8; 16];
        prefix.copy_from_slice(&secret[..16]);
        let cut = bcrypt::hash_with_salt("x", 4, prefix).unwrap().to_string();
        assert_ne!(salt_text, &cut[7..29], "the salt would publish 16 of the secret's 20 bytes");
    }
}
