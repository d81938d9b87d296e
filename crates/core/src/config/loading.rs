//! Loading: YAML text to a checked configuration, with the position of every problem.

#[allow(unused_imports)]
use super::*;

/// The outcome of reading a configuration: the config when it has no errors, and every
/// problem found (errors and warnings), in file order.
#[derive(Debug)]
pub struct Report {
    pub config: Option<Config>,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.config.is_some()
    }
}

/// Reads and validates a configuration from YAML text.
pub fn load(text: &str) -> Report {
    let root = match crate::yaml::load_all(text) {
        Ok(root) => root,
        Err(errors) => {
            return Report {
                config: None,
                problems: errors
                    .into_iter()
                    .map(|e| Problem {
                        level: crate::decode::Level::Error,
                        path: String::new(),
                        line: Some(e.span.line),
                        column: Some(e.span.column),
                        message: format!("not valid YAML: {}", e.message),
                    })
                    .collect(),
            }
        }
    };
    let mut dx = Diagnostics::default();
    let decoded = Config::decode(&root, "", &mut dx);
    if let Some(config) = &decoded {
        check_across(&mut Checker { dx: &mut dx }, config);
    }
    // Problems found after decoding know their path; the document knows where it is.
    let spans = root.index_spans("");
    let mut problems = dx.problems;
    for p in problems.iter_mut().filter(|p| p.line.is_none()) {
        if let Some(span) = nearest_span(&spans, &p.path) {
            p.line = Some(span.line);
            p.column = Some(span.column);
        }
    }
    problems.sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.column.unwrap_or(0), p.level));
    problems.dedup();
    let has_errors = problems
        .iter()
        .any(|p| p.level == crate::decode::Level::Error);
    Report {
        config: decoded.filter(|_| !has_errors),
        problems,
    }
}

/// The position of `path`, or of its nearest written ancestor.
pub(super) fn nearest_span(spans: &HashMap<String, Span>, path: &str) -> Option<Span> {
    let mut p = path.to_string();
    loop {
        if let Some(span) = spans.get(&p) {
            return Some(*span);
        }
        let cut = p.rfind(['.', '['])?;
        p.truncate(cut);
    }
}
