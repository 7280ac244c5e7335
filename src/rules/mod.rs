//! Rule evaluation: Prometheus recording and alerting rule files, evaluated
//! per tenant over the store, with alerts sent to Alertmanager.
//!
//! | module | owns |
//! |---|---|
//! | [`notifier`] | the queue of alerts and their delivery to Alertmanager (API v2) |
//! | [`template`] | Go-template expansion of alert labels and annotations, as Prometheus renders them |

pub mod notifier;
pub mod template;
