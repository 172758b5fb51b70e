//! Session persistence: stick tables with HAProxy's counters, and cookie persistence.

pub mod cookie;
pub mod freq_counter;
pub mod stick_table;
