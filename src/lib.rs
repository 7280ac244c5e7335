//! `rampart`: the service. Remote-write ingest, the HTTP API and the
//! serving modes, on top of the `rampart-storage` engine.
//!
//! | module | owns |
//! |---|---|
//! | [`audit`] | the hash-chained audit log |
//! | [`backup_cmd`] | `rampart backup` and the store's admin socket that takes online backups |
//! | [`auth`] | principals, roles and the access layer of every endpoint |
//! | [`cli`] | command-line flags |
//! | [`config`] | the YAML config tree and its defaults |
//! | [`credentials`] | hashed secrets and the cache of verified credentials |
//! | [`promql`] | PromQL evaluation over the storage engine |
//! | [`proto`] | Prometheus remote write/read protobuf types |
//! | [`tenant`] | tenant identity from request headers |
//! | [`ingest`] | remote-write decoding, validation and responses |
//! | [`api`] | HTTP routes |
//! | [`relay`] | `rampart relay`: auth, tenancy, HA dedup, limits, durable queue, forwarding |
//! | [`rules`] | recording and alerting rules, notifications to Alertmanager |
//! | [`server`] | running a serving mode |
//! | [`telemetry`] | logs and `/metrics` |
//! | [`tls`] | HTTPS served and opened: certificates, reload, client certificates |
//! | [`tsdb_cmd`] | `rampart tsdb` admin commands |
//! | [`verify_cmd`] | `rampart verify`: tamper evidence of a data directory |
//! | [`verify`] | the running store's periodic and on-demand verification of itself |

pub mod api;
pub mod audit;
pub mod auth;
pub mod backup_cmd;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod duration;
pub mod error_class;
pub mod ingest;
pub mod promql;
pub mod proto;
pub mod relay;
pub mod rules;
pub mod server;
pub mod telemetry;
pub mod tenant;
pub mod tls;
pub mod tsdb_cmd;
pub mod verify;
pub mod verify_cmd;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
