//! hakit: high-availability building blocks, and the facade that joins them.
//!
//! Each building block is its own crate and can be used alone as a cargo dependency; this
//! facade re-exports them under one name so a service can depend on `hakit` and reach all
//! of them. The `hakit` binary, built from the same package, combines them into drop-in
//! replacements for etcd, HAProxy, an LVS director and keepalived.
//!
//! | module | crate | what it is |
//! |---|---|---|
//! | [`ebtree`] | `ebtree` | HAProxy's elastic binary trees: timers, ordered maps, prefix tables |
//! | [`balancer_algos`] | `balancer-algos` | every HAProxy and LVS scheduling algorithm, and more |
//! | [`healthcheck`] | `healthcheck` | active probes, rise/fall machine, traffic-based health |
//! | [`raft_kv`] | `raft-kv` | Raft consensus, its WAL and snapshots, a node driver |
//!
//! The proxy, the L4 director and VRRP are re-exported here as they land.

pub use balancer_algos;
pub use ebtree;
pub use healthcheck;
pub use raft_kv;
