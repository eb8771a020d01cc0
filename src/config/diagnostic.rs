//! What `shardgate check` prints: every problem with its file, line, key and reason, in the
//! `file:line: key: message` form editors and CI logs turn into links.

use std::fmt;
use std::path::{Path, PathBuf};

use super::de::Problem;
use super::document::Document;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    /// Worth a look, but the rules load and serve as written.
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; `None` when the problem has no place in the file (it could not be read, or a
    /// required section is missing altogether).
    pub line: Option<usize>,
    /// Path of the key at fault, like `tables[2].placement` or `groups.g3.master`; empty for
    /// the file as a whole.
    pub key: String,
    pub message: String,
    pub severity: Severity,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        if self.severity == Severity::Warning {
            f.write_str(": warning")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// All diagnostics of a load or check, in file order. Warnings alone do not fail a load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| !d.is_error())
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Extend<Diagnostic> for Diagnostics {
    fn extend<I: IntoIterator<Item = Diagnostic>>(&mut self, iter: I) {
        self.0.extend(iter)
    }
}

/// Collects diagnostics for one file, looking up lines by key path in its document.
pub(crate) struct Reporter<'a> {
    file: &'a Path,
    doc: Option<&'a Document>,
    /// Keys whose errors a misspelled-key problem already explains.
    explained: Vec<String>,
    pub out: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    pub fn new(file: &'a Path, doc: Option<&'a Document>) -> Self {
        Reporter {
            file,
            doc,
            explained: Vec::new(),
            out: Vec::new(),
        }
    }

    pub fn error(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.report(Severity::Error, key.into(), message.into())
    }

    pub fn warning(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.report(Severity::Warning, key.into(), message.into())
    }

    pub fn problem(&mut self, p: Problem) {
        self.explained.extend(p.suggested);
        let line = match self.doc {
            Some(doc) => doc.line_of_span(&p.span).or_else(|| doc.line_of(&p.path)),
            None => None,
        };
        self.push(Severity::Error, line, p.path, p.message)
    }

    pub fn has_errors(&self) -> bool {
        self.out.iter().any(Diagnostic::is_error)
    }

    /// Line of a key path, for messages that mention another place in the file.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.doc.and_then(|d| d.line_of(key))
    }

    fn report(&mut self, severity: Severity, key: String, message: String) {
        if severity == Severity::Error && self.is_explained(&key) {
            return;
        }
        let line = self.line_of(&key);
        self.push(severity, line, key, message)
    }

    fn is_explained(&self, key: &str) -> bool {
        self.explained.iter().any(|e| {
            key.strip_prefix(e.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        })
    }

    fn push(&mut self, severity: Severity, line: Option<usize>, key: String, message: String) {
        self.out.push(Diagnostic {
            file: self.file.to_owned(),
            line,
            key,
            message,
            severity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(line: Option<usize>, key: &str, severity: Severity) -> Diagnostic {
        Diagnostic {
            file: "clinical.toml".into(),
            line,
            key: key.into(),
            message: "placement has 3 groups but shards = 4".into(),
            severity,
        }
    }

    #[test]
    fn displays_file_line_key_and_message() {
        let d = diag(Some(23), "tables[2].placement", Severity::Error);
        assert_eq!(
            d.to_string(),
            "clinical.toml:23: tables[2].placement: placement has 3 groups but shards = 4"
        );
        let w = diag(None, "", Severity::Warning);
        assert_eq!(
            w.to_string(),
            "clinical.toml: warning: placement has 3 groups but shards = 4"
        );
        let all = Diagnostics(vec![d, w]);
        assert_eq!(all.to_string().lines().count(), 2);
        assert!(all.has_errors());
        assert_eq!(all.warnings().count(), 1);
    }
}
