//! Annotations: the warnings and infos Prometheus attaches to a query result
//! (`warnings` and `infos` in the HTTP API).
//!
//! Each carries the byte offset in the query text of the sub-expression it is
//! about; rendering turns it into Prometheus's `(line:column)` suffix, with
//! 1-based lines and 1-based byte columns.

/// Warning or info.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnnotationKind {
    /// Possibly a wrong result (`PromQL warning: …`).
    Warning,
    /// Worth knowing, the result is fine (`PromQL info: …`).
    Info,
}

/// One annotation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Annotation {
    /// Warning or info.
    pub kind: AnnotationKind,
    /// The message, without prefix or position.
    pub message: String,
    /// Byte offset in the query of the expression it is about, if known.
    pub position: Option<usize>,
}

impl Annotation {
    /// The text as Prometheus's API shows it, e.g.
    /// `PromQL warning: … (1:5)`, given the query the position refers to.
    pub fn render(&self, query: &str) -> String {
        let prefix = match self.kind {
            AnnotationKind::Warning => "PromQL warning",
            AnnotationKind::Info => "PromQL info",
        };
        match self.position {
            Some(pos) => {
                let (line, col) = line_col(query, pos);
                format!("{prefix}: {} ({line}:{col})", self.message)
            }
            None => format!("{prefix}: {}", self.message),
        }
    }
}

/// 1-based line and 1-based byte column of `pos` in `text`.
fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..pos.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    (line, pos - line_start + 1)
}

/// The annotations of one query, each distinct annotation once, in the
/// order first raised.
#[derive(Clone, Debug, Default)]
pub struct Annotations(Vec<Annotation>);

impl Annotations {
    /// Adds an annotation unless an identical one is present.
    pub fn add(&mut self, kind: AnnotationKind, message: impl Into<String>, position: Option<usize>) {
        let a = Annotation { kind, message: message.into(), position };
        if !self.0.contains(&a) {
            self.0.push(a);
        }
    }

    /// Adds a warning.
    pub fn warn(&mut self, message: impl Into<String>, position: Option<usize>) {
        self.add(AnnotationKind::Warning, message, position);
    }

    /// Adds an info.
    pub fn info(&mut self, message: impl Into<String>, position: Option<usize>) {
        self.add(AnnotationKind::Info, message, position);
    }

    /// Moves all of `other`'s annotations into `self`.
    pub fn merge(&mut self, other: Annotations) {
        for a in other.0 {
            if !self.0.contains(&a) {
                self.0.push(a);
            }
        }
    }

    /// All annotations.
    pub fn iter(&self) -> impl Iterator<Item = &Annotation> {
        self.0.iter()
    }

    /// Rendered texts of one kind, as the API's `warnings` or `infos`.
    pub fn rendered(&self, kind: AnnotationKind, query: &str) -> Vec<String> {
        self.0.iter().filter(|a| a.kind == kind).map(|a| a.render(query)).collect()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_position_suffix() {
        let a = Annotation { kind: AnnotationKind::Info, message: "m".into(), position: Some(14) };
        assert_eq!(a.render("sum(rate(foo[5m]))"), "PromQL info: m (1:15)");
        let b = Annotation { kind: AnnotationKind::Warning, message: "w".into(), position: Some(3) };
        assert_eq!(b.render("a\nbcd"), "PromQL warning: w (2:2)");
    }
}
