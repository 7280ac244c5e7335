//! PromQL: evaluation of parsed queries over the storage engine.
//!
//! Syntax is the `promql-parser` crate's; this module owns semantics. The
//! evaluator works on whole time ranges at once: an instant query is a range
//! query with one step, every node of the AST is evaluated once for all
//! steps, and each selector reads its series from storage once for the
//! whole query (see [`eval`]).
//!
//! | module | owns |
//! |---|---|
//! | [`value`] | results: scalars, strings, vectors, matrices, and label-set helpers |
//! | [`error`] | query errors and their Prometheus `errorType` |
//! | [`annotations`] | warnings and infos attached to a result |
//! | `literals` | string literals Go decodes to bytes that are not UTF-8 (refused) |
//! | `parse` | query text to AST, through a cache of recent texts |
//! | [`series_desc`] | series descriptions (`up{job="a"} 0+1x10 _ stale`) of PromQL test scripts and rule unit tests |
//! | [`storage`] | the [`Queryable`] source of raw series, and its implementation over [`rampart_storage::Db`] |
//! | [`eval`] | the evaluator: selectors, lookback and staleness, `offset`/`@`, subqueries, aggregations, binary operators |
//! | [`functions`] | every PromQL function, evaluated one step at a time |
//! | [`gocompat`] | Go's sort, float formatting, quoting and math, Prometheus's Kahan summation and float comparison |

pub mod annotations;
pub mod error;
pub mod eval;
pub mod functions;
pub mod gocompat;
mod literals;
mod parse;
pub mod series_desc;
pub mod storage;
pub mod value;

pub use annotations::{Annotation, AnnotationKind, Annotations};
pub use error::QueryError;
pub use eval::{Engine, EngineOptions, QueryOutput};
pub use parse::parse;
pub use storage::{Queryable, RawSeries, TenantStorage};
pub use value::{Point, Sample, Series, Value};
