//! Sequences of calls to the service's HTTPS APIs (control plane, key service, log store), each
//! against a fresh service, with the harness's valid credentials or the input's own.
#![no_main]
use broker::fuzzing::{Credentials, HttpCall};
use libfuzzer_sys::arbitrary::{self, Arbitrary};

#[derive(Debug, Arbitrary)]
enum Service {
    ControlPlane,
    KeyService,
    LogStore,
}

#[derive(Debug, Arbitrary)]
enum Auth {
    None,
    Valid,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
struct Call {
    method: u8,
    path: String,
    query: String,
    auth: Auth,
    body: Vec<u8>,
}

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

libfuzzer_sys::fuzz_target!(|input: (Service, Vec<Call>)| {
    let (service, calls) = input;
    let calls: Vec<HttpCall> = calls
        .iter()
        .map(|call| HttpCall {
            method: METHODS[call.method as usize % METHODS.len()],
            path: &call.path,
            query: &call.query,
            credentials: match &call.auth {
                Auth::None => Credentials::None,
                Auth::Valid => Credentials::Valid,
                Auth::Raw(raw) => Credentials::Raw(raw),
            },
            body: &call.body,
        })
        .collect();
    match service {
        Service::ControlPlane => broker::fuzzing::control_plane_calls(&calls),
        Service::KeyService => broker::fuzzing::key_service_calls(&calls),
        Service::LogStore => broker::fuzzing::log_store_calls(&calls),
    }
});
