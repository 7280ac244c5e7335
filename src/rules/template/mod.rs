//! Template expansion of alert labels and annotations, as Prometheus renders
//! them: Go's `text/template` language with Prometheus's template functions
//! and its alert data (`$labels`, `$externalLabels`, `$externalURL`,
//! `$value`), down to output formats and error texts.
//!
//! This module owns the whole template engine: [`expand`] and
//! [`expand_or_error`] for alerting rules, [`check`] for rule-file loading.
//!
//! It is a Go-template implementation of its own rather than a crate: the
//! Rust ports of Go templates (`gtmpl`) differ where alert text shows it:
//! a missing `$labels.x` prints `<no value>` instead of nothing (Prometheus
//! sets `missingkey=zero`), undefined functions are found only at run time
//! (Prometheus reports them at load), errors lack Go's
//! `template: NAME:LINE:COL: executing ...` form, floats do not print as
//! Go's `%v` (`1e+06`), `printf` covers fewer verbs and flags, maps range in
//! hash order instead of sorted, and there are no methods such as
//! `(toTime x).Format`.
//!
//! | file | owns |
//! |---|---|
//! | `lex.rs` | tokens of the template language, `{{-`/`-}}` trimming, comments |
//! | `parse.rs` | the parse tree, `{{define}}`/`{{block}}`, parse-time errors |
//! | `exec.rs` | execution: pipelines, fields, variables, calls, control flow, run-time errors |
//! | `value.rs` | the values templates handle and their Go type names |
//! | `funcs.rs` | Go's builtin and Prometheus's template functions, `time` methods |
//! | `humanize.rs` | `humanize*` number formatting and conversions to float and time |
//! | `gofmt.rs` | Go's `fmt` printing (`print`, `printf`, `%v`), quoting, float parsing |
//! | `gotime.rs` | Go's printing of times (`String`, `Format` layouts) and durations |
//!
//! Known differences from Prometheus: complex-number constants, `%x` on
//! floats and `%#v` are not supported; `{{template}}` nesting stops at depth
//! 1000 (Go: 100000); a query result printed whole shows its samples where
//! Go shows pointer addresses; a field of `.Value` reports type `float64`
//! where Go says `interface {}`; uncommon regexp syntax errors carry the
//! regex crate's description; `title`, `toUpper` and `toLower` approximate
//! Unicode word breaking and special casing; `pathPrefix` is not
//! percent-decoded.

mod exec;
mod funcs;
mod gofmt;
mod gotime;
mod humanize;
mod lex;
mod parse;
mod value;

use std::rc::Rc;

use rampart_storage::Labels;

use self::funcs::Env;
use self::value::{Data, Value};

/// What a template sees: Prometheus's `AlertTemplateData`.
pub struct TemplateData<'a> {
    /// The alert's labels: `$labels` / `.Labels`.
    pub labels: &'a Labels,
    /// `$externalLabels` / `.ExternalLabels`.
    pub external_labels: &'a Labels,
    /// `$externalURL` / `.ExternalURL`, also behind `externalURL` and
    /// `pathPrefix`.
    pub external_url: &'a str,
    /// `$value` / `.Value`.
    pub value: f64,
}

/// Runs the `query` template function: an instant PromQL query at the
/// evaluation time.
pub trait TemplateQuery {
    /// The samples of `expr`'s result; Err is the query's error text.
    fn query(&self, expr: &str) -> Result<Vec<(Labels, f64)>, String>;

    /// The evaluation time in seconds since the epoch, for the `now`
    /// function; the wall clock (to the millisecond) unless overridden.
    fn now(&self) -> f64 {
        let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        ms as f64 / 1000.0
    }
}

/// The variable definitions Prometheus prepends to every alert template.
const DEFS: &str =
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

fn has_function(name: &str) -> bool {
    funcs::lookup(name).is_some()
}

fn label_map(labels: &Labels) -> Rc<std::collections::BTreeMap<String, String>> {
    Rc::new(labels.pairs().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
}

/// Expands `text` (after Prometheus's variable definitions) as template
/// `name`, e.g. `__alert_HighLatency`. Err carries Go's error text, as
/// Prometheus's `Expander.Expand` returns it: `error parsing template NAME:
/// ...` or `error executing template NAME: ...`.
pub fn expand(name: &str, text: &str, data: &TemplateData<'_>, query: &dyn TemplateQuery) -> Result<String, String> {
    let full = format!("{DEFS}{text}");
    let templates =
        parse::parse(name, &full, &has_function).map_err(|e| format!("error parsing template {name}: {e}"))?;
    let dot = Value::Data(Rc::new(Data {
        labels: label_map(data.labels),
        external_labels: label_map(data.external_labels),
        external_url: data.external_url.to_owned(),
        value: data.value,
    }));
    let env = Env { query, now: query.now(), external_url: data.external_url };
    // As Prometheus does, a bug in the engine costs the text, not the process.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exec::execute(&templates, name, &full, dot, &env))) {
        Ok(result) => result.map_err(|e| format!("error executing template {name}: {e}")),
        Err(_) => Err(format!("panic expanding template {name}")),
    }
}

/// What an alerting rule puts in a label or annotation: the expansion, or
/// `<error expanding template: ERR>` as Prometheus does.
pub fn expand_or_error(name: &str, text: &str, data: &TemplateData<'_>, query: &dyn TemplateQuery) -> String {
    expand(name, text, data, query).unwrap_or_else(|e| format!("<error expanding template: {e}>"))
}

/// Parse-only check of a rule file's template (`promtool check rules`):
/// Err is Go's parse error, e.g. `template: __alert_X:1: function "nope"
/// not defined`.
pub fn check(name: &str, text: &str) -> Result<(), String> {
    parse::parse(name, &format!("{DEFS}{text}"), &has_function).map(|_| ())
}

#[cfg(test)]
mod tests;
