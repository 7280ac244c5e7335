//! End-to-end tests: the real `rampart` binary on loopback, driven over HTTP.
//! One test binary (each links RocksDB); one module per area.

mod access;
mod backup;
mod crash;
mod deploy;
mod differential;
mod evidence;
mod harness;
mod ingest;
mod notifier;
mod promql;
mod query_api;
mod relay;
mod rules;
mod rules_unittest;
mod tls;
