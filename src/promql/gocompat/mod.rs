//! Go's and Prometheus's numeric and text helpers that results depend on to
//! the last bit or character: the one place the engine, the functions, the
//! query API and the conformance tests take them from.
//!
//! | module | owns |
//! |---|---|
//! | [`sort`] | Go's `sort.Sort` (pdqsort) and `container/heap`, for Prometheus's order of ties and NaN |
//! | [`format`] | Go's float formatting (`%g`, `FormatFloat` `'f'` and `'e'`) and `strconv.Quote` |
//! | [`kahan`] | Prometheus's Kahan–Neumaier summation and the running mean of `avg` |
//! | [`math`] | Go's `math.Pow` and `math.Atan2` |
//! | [`almost`] | Prometheus's `almost.Equal` float comparison |

pub mod almost;
pub mod format;
pub mod kahan;
pub mod math;
pub mod sort;
