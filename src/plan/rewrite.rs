//! Rewriting by replacing identifier tokens in the original text.
//!
//! sqlparser's Display cannot be used to print a statement back: it drops comments (and so
//! routing hints), `/*M! ... */` and the version gate of `/*!40101 ... */`, and changes
//! meaning in places (`SET SESSION TRANSACTION` loses SESSION). So the planner records byte
//! ranges of the identifiers to rename and splices replacements into the client's text; all
//! else reaches the server byte for byte.

use sqlparser::ast::Ident;

use super::names::{write_ident, write_physical};
use crate::config::physical::PhysicalNames;
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub(crate) enum EditKind<'a> {
    /// A sharded table's name: becomes its shard's physical name.
    ShardTable {
        logical: &'a str,
        names: &'a PhysicalNames,
        quote: bool,
    },
    /// A qualifier naming the logical database: becomes the target group's physical schema.
    GroupSchema { quote: bool },
    /// Fixed text, e.g. `DATABASE()`'s value or an added column alias.
    Text(String),
    /// ` AS <name>` inserted after a select item (`collect::item_names`). It belongs to the
    /// text before it: a range ending at the item carries it, one starting there does not,
    /// and a copy of the item's text elsewhere (`render_copy`) leaves it out.
    ItemAlias(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Edit<'a> {
    pub start: usize,
    pub end: usize,
    pub kind: EditKind<'a>,
}

/// The edits of one statement, applied per target.
#[derive(Debug, Default)]
pub(crate) struct Edits<'a> {
    list: Vec<Edit<'a>>,
    unsorted: bool,
}

impl<'a> Edits<'a> {
    pub fn push(&mut self, start: usize, end: usize, kind: EditKind<'a>) {
        if self.list.last().is_some_and(|e| e.start > start) {
            self.unsorted = true;
        }
        self.list.push(Edit { start, end, kind });
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// True when an edit inside `start..end` changes the text (an added alias does not).
    pub fn change_within(&self, start: usize, end: usize) -> bool {
        let changes = |e: &Edit<'_>| {
            e.start >= start && e.end <= end && !matches!(e.kind, EditKind::ItemAlias(_))
        };
        if self.unsorted {
            return self.list.iter().any(changes);
        }
        let first = self.list.partition_point(|e| e.start < start);
        self.list[first..]
            .iter()
            .take_while(|e| e.start <= end)
            .any(changes)
    }

    /// Orders the edits and checks they do not overlap (the same identifier recorded twice is
    /// merged); an overlap means the planner misread the statement, so it refuses.
    pub fn finish(&mut self) -> Result<()> {
        if self.unsorted {
            self.list.sort_by_key(|e| (e.start, e.end));
            self.unsorted = false;
        }
        self.list
            .dedup_by(|b, a| a.start == b.start && a.end == b.end && same_kind(&a.kind, &b.kind));
        if self.list.windows(2).any(|w| w[0].end > w[1].start) {
            return Err(Error::Internal(
                "overlapping identifier rewrites; refusing rather than guessing".into(),
            ));
        }
        Ok(())
    }

    /// Appends `src[from..to]` with the edits inside that range applied for `shard` in a group
    /// whose physical schema is `schema`.
    pub fn render_range(
        &self,
        src: &str,
        from: usize,
        to: usize,
        shard: Option<u32>,
        schema: &str,
        out: &mut String,
    ) {
        self.render_part(src, from, to, shard, schema, true, out)
    }

    /// `render_range` for a copy of the client's text in another place (a hidden column, a
    /// sort key): an added alias stays with the item and is not copied.
    pub fn render_copy(
        &self,
        src: &str,
        from: usize,
        to: usize,
        shard: Option<u32>,
        schema: &str,
        out: &mut String,
    ) {
        self.render_part(src, from, to, shard, schema, false, out)
    }

    #[allow(clippy::too_many_arguments)]
    fn render_part(
        &self,
        src: &str,
        from: usize,
        to: usize,
        shard: Option<u32>,
        schema: &str,
        aliases: bool,
        out: &mut String,
    ) {
        let mut pos = from;
        let first = self.list.partition_point(|e| e.start < from);
        for e in &self.list[first..] {
            if e.end > to {
                break;
            }
            match &e.kind {
                EditKind::ShardTable {
                    logical,
                    names,
                    quote,
                } => {
                    out.push_str(&src[pos..e.start]);
                    // A sharded table always has a shard by the time SQL is rendered.
                    write_physical(out, names, logical, shard.unwrap_or(0), *quote)
                }
                EditKind::GroupSchema { quote } => {
                    out.push_str(&src[pos..e.start]);
                    write_ident(out, schema, *quote)
                }
                EditKind::Text(t) => {
                    out.push_str(&src[pos..e.start]);
                    out.push_str(t)
                }
                EditKind::ItemAlias(a) => {
                    if !aliases || e.start == from {
                        continue;
                    }
                    out.push_str(&src[pos..e.start]);
                    out.push_str(a)
                }
            }
            pos = e.end;
        }
        out.push_str(&src[pos..to]);
    }

    /// The whole statement with `custom` deciding each edit first (`None`: as `render`
    /// would, for shard 0 in a group whose schema is `schema`).
    pub fn render_with(
        &self,
        src: &str,
        schema: &str,
        custom: &dyn Fn(&EditKind<'a>) -> Option<String>,
    ) -> String {
        let mut out = String::with_capacity(src.len() + 32);
        let mut pos = 0;
        for e in &self.list {
            out.push_str(&src[pos..e.start]);
            match (custom(&e.kind), &e.kind) {
                (Some(text), _) => out.push_str(&text),
                (None, EditKind::ItemAlias(a)) => out.push_str(a),
                (None, _) => self.render_range(src, e.start, e.end, Some(0), schema, &mut out),
            }
            pos = e.end;
        }
        out.push_str(&src[pos..]);
        out
    }

    /// The whole statement rewritten for one target.
    pub fn render(&self, src: &str, shard: Option<u32>, schema: &str) -> String {
        let mut out = String::with_capacity(src.len() + 16);
        self.render_range(src, 0, src.len(), shard, schema, &mut out);
        out
    }
}

fn same_kind(a: &EditKind<'_>, b: &EditKind<'_>) -> bool {
    match (a, b) {
        (EditKind::ShardTable { logical: x, .. }, EditKind::ShardTable { logical: y, .. }) => {
            x == y
        }
        (EditKind::GroupSchema { .. }, EditKind::GroupSchema { .. }) => true,
        (EditKind::Text(x), EditKind::Text(y)) => x == y,
        (EditKind::ItemAlias(x), EditKind::ItemAlias(y)) => x == y,
        _ => false,
    }
}

/// True if `text` is how `ident` is written: its value, or its value quoted (backquotes, or
/// double quotes under ANSI_QUOTES) with inner quotes doubled. Guards every rename against a
/// wrong source span.
pub(crate) fn spelled_as(text: &str, ident: &Ident) -> bool {
    match ident.quote_style {
        None => text == ident.value,
        Some(q @ ('`' | '"')) => {
            let Some(inner) = text.strip_prefix(q).and_then(|t| t.strip_suffix(q)) else {
                return false;
            };
            let doubled = if q == '`' { "``" } else { "\"\"" };
            let mut expected = ident.value.split(q);
            let mut got = inner.split(doubled);
            loop {
                match (expected.next(), got.next()) {
                    (None, None) => return true,
                    (Some(a), Some(b)) if a == b => {}
                    _ => return false,
                }
            }
        }
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_per_shard() {
        let src = "SELECT x FROM clinical.`clinical_data` c WHERE 1";
        let names = PhysicalNames::default();
        let mut e = Edits::default();
        e.push(
            23,
            38,
            EditKind::ShardTable {
                logical: "clinical_data",
                names: &names,
                quote: true,
            },
        );
        e.push(14, 22, EditKind::GroupSchema { quote: false });
        e.finish().unwrap();
        assert_eq!(
            e.render(src, Some(2), "phys"),
            "SELECT x FROM phys.`clinical_data_2` c WHERE 1"
        );
        let mut part = String::new();
        e.render_range(src, 14, 38, Some(1), "p1", &mut part);
        assert_eq!(part, "p1.`clinical_data_1`");
    }

    #[test]
    fn overlaps_are_refused_and_duplicates_merged() {
        let mut e = Edits::default();
        e.push(0, 4, EditKind::GroupSchema { quote: false });
        e.push(0, 4, EditKind::GroupSchema { quote: false });
        assert!(e.finish().is_ok());
        e.push(2, 6, EditKind::Text("x".into()));
        assert!(e.finish().is_err());
    }

    #[test]
    fn spelling_checks() {
        let plain = Ident::new("clinical_data");
        let quoted = Ident::with_quote('`', "a`b c");
        assert!(spelled_as("clinical_data", &plain));
        assert!(!spelled_as("clinical_dat", &plain));
        assert!(spelled_as("`a``b c`", &quoted));
        assert!(!spelled_as("`a`b c`", &quoted));
        assert!(!spelled_as("`", &quoted));
        let ansi = Ident::with_quote('"', "a\"b");
        assert!(spelled_as("\"a\"\"b\"", &ansi));
        assert!(!spelled_as("`a\"b`", &ansi));
    }
}
