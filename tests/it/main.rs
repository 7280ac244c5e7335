//! End-to-end tests: the real `rampart` binary on loopback, driven over HTTP.
//! One test binary (each links RocksDB); one module per area.

mod crash;
mod harness;
mod ingest;
mod query_api;
