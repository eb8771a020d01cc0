//! A rule file as a tree that remembers where every key and value was written.
//!
//! Diagnostics must name a line for every problem, including semantic ones found long after
//! parsing ("placement has 3 groups but shards = 4"). The serde structs cannot carry spans
//! without cluttering every field, so the file is parsed once into this tree (via toml_edit,
//! which keeps spans for keys and values), deserialized from it (`de.rs`), and asked for the
//! line of a key path like `tables[2].placement` when a check fails.

use std::ops::Range;

pub(crate) type Span = Option<Range<usize>>;

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub span: Span,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime,
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub key_span: Span,
    pub node: Node,
}

/// A parsed file: its tree and what is needed to turn byte offsets into line numbers.
#[derive(Debug)]
pub(crate) struct Document {
    pub root: Node,
    line_starts: Vec<usize>,
}

/// A TOML syntax error: the message and the 1-based line it points at.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub message: String,
    pub line: Option<usize>,
}

impl Document {
    pub fn parse(text: &str) -> Result<Document, SyntaxError> {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        match toml_edit::ImDocument::parse(text) {
            Ok(doc) => Ok(Document {
                root: Node {
                    span: None,
                    value: table(doc.as_table()),
                },
                line_starts,
            }),
            Err(e) => {
                let doc = Document {
                    root: Node {
                        span: None,
                        value: Value::Table(Vec::new()),
                    },
                    line_starts,
                };
                Err(SyntaxError {
                    message: e.message().trim_end().to_owned(),
                    line: e.span().map(|s| doc.line_at(s.start)),
                })
            }
        }
    }

    /// 1-based line of a byte offset.
    pub fn line_at(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    pub fn line_of_span(&self, span: &Span) -> Option<usize> {
        span.as_ref().map(|s| self.line_at(s.start))
    }

    /// Line of a key path (`groups.g0.master`, `tables[2].placement[1]`). When the path does
    /// not exist (a missing key), the line of its nearest existing ancestor, so a "missing
    /// master" points at the `[groups.g0]` header.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut node = &self.root;
        let mut best: Span = None;
        for segment in segments(path) {
            let found = match (&node.value, segment) {
                (Value::Table(entries), Segment::Key(key)) => entries
                    .iter()
                    .find(|e| e.key == key)
                    .map(|e| (&e.node, e.key_span.clone().or_else(|| e.node.span.clone()))),
                (Value::Array(items), Segment::Index(i)) => {
                    items.get(i).map(|n| (n, n.span.clone()))
                }
                _ => None,
            };
            let Some((next, span)) = found else { break };
            node = next;
            if span.is_some() {
                best = span;
            }
        }
        self.line_of_span(&best)
    }

    /// The node at a key path, if it exists.
    pub fn get(&self, path: &str) -> Option<&Node> {
        let mut node = &self.root;
        for segment in segments(path) {
            node = match (&node.value, segment) {
                (Value::Table(entries), Segment::Key(key)) => {
                    &entries.iter().find(|e| e.key == key)?.node
                }
                (Value::Array(items), Segment::Index(i)) => items.get(i)?,
                _ => return None,
            };
        }
        Some(node)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// `a.b[2].c` -> a, b, 2, c. Keys containing `.` or `[` cannot be addressed; their lookups
/// fall back to the parent's line, which is good enough for a diagnostic.
fn segments(path: &str) -> impl Iterator<Item = Segment<'_>> {
    path.split('.')
        .filter(|part| !part.is_empty())
        .flat_map(|part| {
            let (key, indices) = part
                .split_once('[')
                .map_or((part, ""), |(k, rest)| (k, rest));
            let key = (!key.is_empty()).then_some(Segment::Key(key));
            let indices = indices
                .split('[')
                .filter_map(|i| i.trim_end_matches(']').parse().ok())
                .map(Segment::Index);
            key.into_iter().chain(indices)
        })
}

/// Joins a parent path and a key the way diagnostics spell paths.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn table(t: &toml_edit::Table) -> Value {
    Value::Table(
        t.iter()
            .filter_map(|(key, item)| {
                let node = item_node(item)?;
                Some(Entry {
                    key: key.to_owned(),
                    key_span: t.key(key).and_then(|k| k.span()),
                    node,
                })
            })
            .collect(),
    )
}

fn item_node(item: &toml_edit::Item) -> Option<Node> {
    Some(match item {
        toml_edit::Item::None => return None,
        toml_edit::Item::Value(v) => value_node(v),
        toml_edit::Item::Table(t) => Node {
            span: t.span(),
            value: table(t),
        },
        toml_edit::Item::ArrayOfTables(a) => Node {
            span: a.span(),
            value: Value::Array(
                a.iter()
                    .map(|t| Node {
                        span: t.span(),
                        value: table(t),
                    })
                    .collect(),
            ),
        },
    })
}

fn value_node(v: &toml_edit::Value) -> Node {
    use toml_edit::Value as V;
    let value = match v {
        V::String(s) => Value::String(s.value().clone()),
        V::Integer(i) => Value::Integer(*i.value()),
        V::Float(f) => Value::Float(*f.value()),
        V::Boolean(b) => Value::Boolean(*b.value()),
        V::Datetime(_) => Value::Datetime,
        V::Array(a) => Value::Array(a.iter().map(value_node).collect()),
        V::InlineTable(t) => Value::Table(
            t.iter()
                .map(|(key, value)| Entry {
                    key: key.to_owned(),
                    key_span: t.key(key).and_then(|k| k.span()),
                    node: value_node(value),
                })
                .collect(),
        ),
    };
    Node {
        span: v.span(),
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
[database]
name = \"x\"

[groups.g0]
master = \"a:1\"
replicas = [\"b:1\",
  { addr = \"c:1\", weight = 2 }]

[[tables]]
name = \"t0\"

[[tables]]
name = \"t1\"
key_generator = { column = \"id\" }
";

    #[test]
    fn finds_the_line_of_keys_values_and_missing_keys() {
        let doc = Document::parse(TEXT).unwrap();
        assert_eq!(doc.line_of("database"), Some(1));
        assert_eq!(doc.line_of("database.name"), Some(2));
        assert_eq!(doc.line_of("groups.g0"), Some(4));
        assert_eq!(doc.line_of("groups.g0.master"), Some(5));
        assert_eq!(doc.line_of("groups.g0.replicas[1]"), Some(7));
        assert_eq!(doc.line_of("groups.g0.replicas[1].weight"), Some(7));
        assert_eq!(doc.line_of("tables[1]"), Some(12));
        assert_eq!(doc.line_of("tables[1].key_generator.column"), Some(14));
        // Missing keys point at the nearest ancestor that exists.
        assert_eq!(doc.line_of("tables[1].shard_key"), Some(12));
        assert_eq!(doc.line_of("groups.g9.master"), Some(4));
        assert_eq!(doc.line_of("nothing"), None);
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = Document::parse("[a]\nx = 1\nx = 2\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("duplicate key"), "{}", err.message);
    }

    #[test]
    fn splits_paths() {
        let got: Vec<_> = segments("tables[2].placement[10]").collect();
        assert_eq!(
            got,
            [
                Segment::Key("tables"),
                Segment::Index(2),
                Segment::Key("placement"),
                Segment::Index(10)
            ]
        );
    }
}
