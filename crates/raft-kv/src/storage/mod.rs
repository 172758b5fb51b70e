//! Durable storage: the write-ahead log, hard state and snapshot files.
