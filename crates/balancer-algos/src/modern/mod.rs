//! Algorithms neither HAProxy nor LVS has (LVS `mh` aside): weighted Maglev, jump
//! consistent hash, rendezvous hashing and latency-aware power of two choices.

pub mod jump;
pub mod maglev;
pub mod peak_ewma;
pub mod rendezvous;

use std::net::IpAddr;

use crate::hash_fn::{hash_bytes64, mix64};
use crate::request::Request;

/// The 64-bit affinity hash of a request: [`Request::key`] if set, else the source
/// address; `None` when neither is present.
pub fn affinity_hash(request: &Request<'_>) -> Option<u64> {
    if let Some(k) = request.key {
        return Some(hash_bytes64(k));
    }
    match request.source? {
        IpAddr::V4(a) => Some(mix64(u64::from(u32::from(a)))),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            Some(mix64((v as u64) ^ mix64((v >> 64) as u64)))
        }
    }
}
