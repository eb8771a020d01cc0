//! Serde over a [`Document`](super::document) tree, so every error knows its key path and span.
//!
//! Two things plain `toml::from_str` cannot do: report *all* unknown keys of a struct (here they
//! are set aside into a list and the struct is read without them, `deny_unknown_fields` on the
//! raw structs still guards any other deserializer), and point type errors at the exact key
//! (`tables[2].shards`) instead of the first failure of the whole file.

use std::cell::RefCell;
use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Unexpected, Visitor};

use super::document::{join, Entry, Node, Span, Value};

/// One thing wrong with the file's shape: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub path: String,
    pub span: Span,
    pub message: String,
    /// For a misspelled key, the path of the key it probably meant: a "missing shard_key"
    /// error there would only repeat this problem.
    pub suggested: Option<String>,
}

/// Deserializes `node` (found at `path`) as a `T`. Unknown keys are appended to `unknown` and
/// do not fail the call.
pub(crate) fn from_node<T: DeserializeOwned>(
    node: &Node,
    path: &str,
    unknown: &mut Vec<Problem>,
) -> Result<T, Problem> {
    let sink = RefCell::new(Vec::new());
    let result = T::deserialize(NodeDe {
        node,
        path: path.to_owned(),
        sink: &sink,
    });
    unknown.extend(sink.into_inner());
    result.map_err(|e| Problem {
        path: e.path.unwrap_or_else(|| path.to_owned()),
        span: e.span,
        message: humanize(&e.message),
        suggested: None,
    })
}

/// Serde speaks of Rust types ("expected struct RawGroup", "expected u32"); users wrote TOML.
fn humanize(message: &str) -> String {
    let mut m = message
        .replace("invalid type: map", "invalid type: table")
        .replace("invalid type: sequence", "invalid type: array")
        .replace("expected a map", "expected a table")
        .replace("expected a sequence", "expected an array");
    for (rust, toml) in [
        ("expected u32", "expected a non-negative integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected i64", "expected an integer"),
    ] {
        if m.ends_with(rust) {
            m.replace_range(m.len() - rust.len().., toml);
        }
    }
    if let Some(at) = m.find("expected struct ") {
        m.replace_range(at.., "expected a table");
    }
    m
}

/// A serde error that picks up the path and span of the innermost node it passes through.
#[derive(Debug)]
pub(crate) struct Error {
    message: String,
    path: Option<String>,
    span: Span,
}

impl Error {
    fn at(mut self, path: &str, span: &Span) -> Self {
        if self.path.is_none() {
            self.path = Some(path.to_owned());
        }
        if self.span.is_none() {
            self.span = span.clone();
        }
        self
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            message: msg.to_string(),
            path: None,
            span: None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

struct NodeDe<'a> {
    node: &'a Node,
    path: String,
    sink: &'a RefCell<Vec<Problem>>,
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match &self.node.value {
            Value::String(s) => visitor.visit_str(s),
            Value::Integer(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Boolean(b) => visitor.visit_bool(*b),
            Value::Datetime => Err(de::Error::invalid_type(
                Unexpected::Other("a date-time"),
                &visitor,
            )),
            Value::Array(items) => visitor.visit_seq(SeqAccess {
                items: items.iter().enumerate(),
                path: &self.path,
                sink: self.sink,
            }),
            Value::Table(entries) => visitor.visit_map(TableAccess {
                entries: entries.iter().collect::<Vec<_>>().into_iter(),
                value: None,
                path: &self.path,
                sink: self.sink,
            }),
        };
        result.map_err(|e| e.at(&self.path, &self.node.span))
    }

    /// A node that exists is a present value; absent keys never reach a deserializer.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Value::Table(entries) = &self.node.value else {
            return self.deserialize_any(visitor);
        };
        let (known, unknown): (Vec<&Entry>, Vec<&Entry>) = entries
            .iter()
            .partition(|e| fields.contains(&e.key.as_str()));
        self.sink.borrow_mut().extend(
            unknown
                .into_iter()
                .map(|e| unknown_key(&self.path, e, fields)),
        );
        visitor
            .visit_map(TableAccess {
                entries: known.into_iter(),
                value: None,
                path: &self.path,
                sink: self.sink,
            })
            .map_err(|e| e.at(&self.path, &self.node.span))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::String(s) => {
                let variant: StrDeserializer<'_, Error> = s.as_str().into_deserializer();
                visitor
                    .visit_enum(variant)
                    .map_err(|e| e.at(&self.path, &self.node.span))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map identifier
    }
}

struct SeqAccess<'a, I> {
    items: I,
    path: &'a str,
    sink: &'a RefCell<Vec<Problem>>,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a Node)>> de::SeqAccess<'de> for SeqAccess<'a, I> {
    type Error = Error;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some((i, node)) = self.items.next() else {
            return Ok(None);
        };
        seed.deserialize(NodeDe {
            node,
            path: format!("{}[{i}]", self.path),
            sink: self.sink,
        })
        .map(Some)
    }
}

struct TableAccess<'a> {
    entries: std::vec::IntoIter<&'a Entry>,
    value: Option<&'a Entry>,
    path: &'a str,
    sink: &'a RefCell<Vec<Problem>>,
}

impl<'de> de::MapAccess<'de> for TableAccess<'_> {
    type Error = Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(entry);
        let key: StrDeserializer<'_, Error> = entry.key.as_str().into_deserializer();
        seed.deserialize(key)
            .map(Some)
            .map_err(|e| e.at(&join(self.path, &entry.key), &entry.key_span))
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let entry = self
            .value
            .take()
            .expect("serde asks for a key before its value");
        seed.deserialize(NodeDe {
            node: &entry.node,
            path: join(self.path, &entry.key),
            sink: self.sink,
        })
    }
}

/// "unknown key `shard_ky`, did you mean `shard_key`?" when one is close, else the list.
pub(crate) fn unknown_key(path: &str, entry: &Entry, fields: &[&str]) -> Problem {
    let key = entry.key.as_str();
    let closest = fields
        .iter()
        .map(|f| (edit_distance(key, f), *f))
        .min()
        .filter(|&(d, f)| d <= 2 && d < f.len())
        .map(|(_, f)| f);
    let message = match closest {
        Some(f) => format!("unknown key `{key}`, did you mean `{f}`?"),
        None => {
            let expected: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
            format!(
                "unknown key `{key}`, expected one of {}",
                expected.join(", ")
            )
        }
    };
    Problem {
        path: join(path, key),
        span: entry.key_span.clone(),
        message,
        suggested: closest.map(|f| join(path, f)),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::super::document::Document;
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        n: u32,
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Fast,
        Slow,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        items: Vec<Inner>,
    }

    fn parse(text: &str) -> (Result<Outer, Problem>, Vec<Problem>, Document) {
        let doc = Document::parse(text).unwrap();
        let mut unknown = Vec::new();
        let result = from_node(&doc.root, "", &mut unknown);
        (result, unknown, doc)
    }

    #[test]
    fn reads_nested_values() {
        let (outer, unknown, _) = parse("[[items]]\nn = 1\nmode = \"slow\"\n[[items]]\nn = 2\n");
        assert_eq!(
            outer.unwrap().items,
            [
                Inner {
                    n: 1,
                    mode: Some(Mode::Slow)
                },
                Inner { n: 2, mode: None }
            ]
        );
        assert!(unknown.is_empty());
    }

    #[test]
    fn collects_every_unknown_key_with_its_line() {
        let (outer, unknown, doc) = parse("[[items]]\nn = 1\nm = 2\nmod = 3\nzzz = 4\n");
        assert!(outer.is_ok());
        let got: Vec<_> = unknown
            .iter()
            .map(|p| {
                (
                    p.path.as_str(),
                    doc.line_of_span(&p.span),
                    p.message.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "items[0].m",
                    Some(3),
                    "unknown key `m`, expected one of `n`, `mode`"
                ),
                (
                    "items[0].mod",
                    Some(4),
                    "unknown key `mod`, did you mean `mode`?"
                ),
                (
                    "items[0].zzz",
                    Some(5),
                    "unknown key `zzz`, expected one of `n`, `mode`"
                ),
            ]
        );
    }

    #[test]
    fn type_errors_name_the_key_and_line() {
        let (outer, _, doc) = parse("[[items]]\nn = 1\n[[items]]\nn = \"two\"\n");
        let problem = outer.unwrap_err();
        assert_eq!(problem.path, "items[1].n");
        assert_eq!(doc.line_of_span(&problem.span), Some(4));
        assert_eq!(
            problem.message,
            "invalid type: string \"two\", expected a non-negative integer"
        );

        let (outer, _, doc) = parse("[[items]]\nn = 1\nmode = \"medium\"\n");
        let problem = outer.unwrap_err();
        assert_eq!(problem.path, "items[0].mode");
        assert_eq!(doc.line_of_span(&problem.span), Some(3));
        assert_eq!(
            problem.message,
            "unknown variant `medium`, expected `fast` or `slow`"
        );
    }

    #[test]
    fn missing_fields_point_at_their_table() {
        let (outer, _, doc) = parse("[[items]]\nn = 1\n\n[[items]]\nmode = \"fast\"\n");
        let problem = outer.unwrap_err();
        assert_eq!(problem.path, "items[1]");
        assert_eq!(doc.line_of_span(&problem.span), Some(4));
        assert_eq!(problem.message, "missing field `n`");
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("shard_ky", "shard_key"), 1);
        assert_eq!(edit_distance("sharsd", "shards"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
    }
}
