//! Helpers shared by aggregations ([`super`], `aggregate.rs`) and binary
//! operators (`binary.rs`), and the parts of aggregation that are large
//! enough for a file of their own.
//!
//! | module | owns |
//! |---|---|
//! | [`labels`] | which labels take part in a grouping or match, signature hashes, Prometheus's label-set text |
//! | [`group`] | assigning one step's samples to groups, in first-seen order |
//! | [`memo`] | the per-thread cache that builds each output label set once per query rather than per step |
//! | [`topk`] | `topk`, `bottomk`, `limitk`, `limit_ratio` |
//! | [`count_values`] | `count_values` |

pub(crate) mod count_values;
pub(crate) mod group;
pub(crate) mod labels;
pub(crate) mod memo;
pub(crate) mod topk;

#[cfg(test)]
pub(crate) mod testutil;
