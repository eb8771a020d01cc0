//! Rule files and the server config: read, check, and turn into the immutable model.
//!
//! # Layout
//! - `model`: the validated rules every other module reads.
//! - `raw`: the rule file exactly as written (serde, unknown keys denied).
//! - `document` + `de`: parse once keeping spans, so every diagnostic has a line.
//! - `validate`: raw -> model, collecting every problem.
//! - `diagnostic`: what `shardgate check` prints.
//! - `key_types`: the one check that needs the live schema.
//! - `server`: `shardgate.toml`, the process config.
//!
//! Only files are read here; nothing connects anywhere.

mod address;
mod de;
mod diagnostic;
mod document;
pub mod key_column;
mod key_types;
pub mod layout_change;
pub mod lower_case;
pub mod model;
pub mod name_filter;
pub mod physical;
pub mod raw;
pub mod server;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use key_types::check_key_column_types;
pub use server::{load_server_config, AuthPlugin, BackendConfig, ServerConfig, UserConfig};
pub use validate::MAX_SHARDS;

use diagnostic::Reporter;
use document::Document;
use model::{Database, Rules};

/// Loads a rule file, or every `*.toml` in a directory (one logical database each). Warnings do
/// not fail the load; use [`load_rules_and_diagnostics`] to see them.
pub fn load_rules(path: &Path) -> Result<Rules, Diagnostics> {
    match load_rules_and_diagnostics(path) {
        (Some(rules), _) => Ok(rules),
        (None, diagnostics) => Err(diagnostics),
    }
}

/// Everything `shardgate check` reports for a rule file or directory, warnings included.
pub fn check(path: &Path) -> Diagnostics {
    load_rules_and_diagnostics(path).1
}

/// The rules (`None` when anything is an error) and every diagnostic, so `serve` can log the
/// warnings of rules it accepted.
pub fn load_rules_and_diagnostics(path: &Path) -> (Option<Rules>, Diagnostics) {
    match rule_files(path) {
        Ok(files) => {
            let sources = files.into_iter().map(|file| {
                let text = std::fs::read_to_string(&file);
                (file, text)
            });
            from_sources(sources)
        }
        Err(d) => (None, Diagnostics(vec![d])),
    }
}

/// Rules from in-memory rule files, `(file name, TOML text)`: for tests that need rules
/// without touching the disk.
pub fn rules_from_strs(files: &[(&str, &str)]) -> Result<Rules, Diagnostics> {
    let sources = files
        .iter()
        .map(|(name, text)| (PathBuf::from(name), Ok(text.to_string())));
    match from_sources(sources) {
        (Some(rules), _) => Ok(rules),
        (None, diagnostics) => Err(diagnostics),
    }
}

/// `path` itself, or the `*.toml` files directly in it, sorted by name. Hidden files are
/// skipped: editors leave `.#name.toml` lock files next to the ones being edited.
fn rule_files(path: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let fail = |message: String| Diagnostic {
        file: path.to_owned(),
        line: None,
        key: String::new(),
        message,
        severity: Severity::Error,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| fail(format!("cannot list: {e}")))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| fail(format!("cannot list: {e}")))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let file = entry.path();
        if !name.starts_with('.') && name.ends_with(".toml") && file.is_file() {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(fail("no rule files (*.toml) in this directory".to_owned()));
    }
    files.sort();
    Ok(files)
}

fn from_sources(
    sources: impl IntoIterator<Item = (PathBuf, std::io::Result<String>)>,
) -> (Option<Rules>, Diagnostics) {
    let mut all = Diagnostics::default();
    let mut databases: BTreeMap<String, Arc<Database>> = BTreeMap::new();
    for (file, text) in sources {
        let text = match text {
            Ok(t) => t,
            Err(e) => {
                all.push(Diagnostic {
                    file,
                    line: None,
                    key: String::new(),
                    message: format!("cannot read: {e}"),
                    severity: Severity::Error,
                });
                continue;
            }
        };
        let (db, mut diagnostics) = database(&file, &text);
        if let Some(db) = db {
            let key = db.name.to_ascii_lowercase();
            if let Some(other) = databases.get(&key) {
                let doc = Document::parse(&text).ok();
                let mut r = Reporter::new(&file, doc.as_ref());
                r.error(
                    "database.name",
                    format!(
                        "database `{}` is already declared in {} (database names are \
                         case-insensitive)",
                        db.name,
                        other.source.display()
                    ),
                );
                diagnostics.extend(r.out);
                sort_by_line(&mut diagnostics);
            } else {
                databases.insert(key, Arc::new(db));
            }
        }
        all.extend(diagnostics);
    }
    let rules = (!all.has_errors()).then_some(Rules::new(databases));
    (rules, all)
}

/// One rule file: parse, read, validate.
fn database(file: &Path, text: &str) -> (Option<Database>, Vec<Diagnostic>) {
    let doc = match Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let d = Diagnostic {
                file: file.to_owned(),
                line: e.line,
                key: String::new(),
                message: format!("TOML syntax: {}", e.message),
                severity: Severity::Error,
            };
            return (None, vec![d]);
        }
    };
    let mut r = Reporter::new(file, Some(&doc));
    let mut problems = Vec::new();
    let raw = raw::from_document(&doc.root, &mut problems);
    for p in problems {
        r.problem(p);
    }
    let db = raw.and_then(|raw| validate::validate(&raw, file, &mut r));
    sort_by_line(&mut r.out);
    (db, r.out)
}

/// File order reads best, whichever check found a problem first.
fn sort_by_line(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| d.line.unwrap_or(0));
}
