//! Physical table names from a `physical = "{table}_v2_{shard}"` template.
//!
//! A template exists so that two layouts of one table can live side by side on a group while
//! a resharding job copies from the old into the new; routing, result renaming and every
//! backend-facing tool must therefore derive names from the rule, never from a fixed pattern.

use std::fmt::Write as _;

/// The default: shard 2 of `clinical_data` is `clinical_data_2`.
pub const DEFAULT_TEMPLATE: &str = "{table}_{shard}";

/// MySQL's limit on a table name's length.
const MAX_IDENTIFIER_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Table,
    Shard,
}

/// A checked template: `{shard}` exactly once (or shards would share a table), `{table}` at
/// most once, no other braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalNames {
    template: String,
    parts: Vec<Part>,
}

impl Default for PhysicalNames {
    fn default() -> Self {
        Self::parse(DEFAULT_TEMPLATE).expect("the default template is valid")
    }
}

impl PhysicalNames {
    /// Checks `template`; the error says what is wrong with it, for `shardgate check`.
    pub fn parse(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        while let Some(c) = rest.chars().next() {
            if c == '{' {
                let Some(end) = rest.find('}') else {
                    return Err(format!("`{template}` has a `{{` without its `}}`"));
                };
                let part = match &rest[1..end] {
                    "table" => Part::Table,
                    "shard" => Part::Shard,
                    other => {
                        return Err(format!(
                            "`{template}` names `{{{other}}}`: only {{table}} and {{shard}} exist"
                        ))
                    }
                };
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(part);
                rest = &rest[end + 1..];
            } else if c == '}' {
                return Err(format!("`{template}` has a `}}` without its `{{`"));
            } else if c == '`' || c == '.' || c.is_control() {
                return Err(format!(
                    "`{template}` contains {c:?}, which no table name of ours may contain"
                ));
            } else {
                text.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        let count = |p: &Part| parts.iter().filter(|x| *x == p).count();
        if count(&Part::Shard) != 1 {
            return Err(format!(
                "`{template}` must contain {{shard}} exactly once, or two shards would share \
                 one physical table"
            ));
        }
        if count(&Part::Table) > 1 {
            return Err(format!("`{template}` contains {{table}} more than once"));
        }
        // Two placeholders side by side cannot be told apart when reading a name back.
        if parts
            .windows(2)
            .any(|w| !matches!(w[0], Part::Text(_)) && !matches!(w[1], Part::Text(_)))
        {
            return Err(format!(
                "`{template}` puts {{table}} and {{shard}} side by side: separate them with \
                 text such as `_`"
            ));
        }
        if parts.windows(2).any(|w| {
            w[0] == Part::Shard
                && matches!(&w[1], Part::Text(t) if t.starts_with(|c: char| c.is_ascii_digit()))
        }) {
            return Err(format!(
                "`{template}` has a digit right after {{shard}}: the shard number could not \
                 be read back"
            ));
        }
        Ok(Self {
            template: template.to_owned(),
            parts,
        })
    }

    /// The template as written, for messages and layout comparisons.
    pub fn template(&self) -> &str {
        &self.template
    }

    pub fn is_default(&self) -> bool {
        self.template == DEFAULT_TEMPLATE
    }

    pub fn name(&self, table: &str, shard: u32) -> String {
        let mut out = String::with_capacity(table.len() + 8);
        self.write(&mut out, table, shard);
        out
    }

    pub fn write(&self, out: &mut String, table: &str, shard: u32) {
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Table => out.push_str(table),
                Part::Shard => {
                    let _ = write!(out, "{shard}");
                }
            }
        }
    }

    /// Why the names for `shards` shards of `table` cannot be MySQL table names, if so.
    pub fn too_long(&self, table: &str, shards: u32) -> Option<String> {
        let longest = self.name(table, shards.saturating_sub(1));
        (longest.chars().count() > MAX_IDENTIFIER_CHARS).then(|| {
            format!(
                "physical table `{longest}` is longer than MySQL's {MAX_IDENTIFIER_CHARS} \
                 characters"
            )
        })
    }

    /// The shard whose physical table `name` is, reading the template backwards; only the
    /// canonical number counts (`t_01` is nobody's shard), as `write` prints it. Compares
    /// case-insensitively, as table names are on the platforms we serve.
    pub fn shard_of(&self, table: &str, name: &str) -> Option<u32> {
        let mut rest = name;
        let mut shard = None;
        for part in &self.parts {
            match part {
                Part::Text(t) => rest = strip_prefix_ci(rest, t)?,
                Part::Table => rest = strip_prefix_ci(rest, table)?,
                Part::Shard => {
                    // `parse` keeps digits out of the text after {shard}, so the number is
                    // the whole run of digits here.
                    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                    let number = &rest[..digits];
                    if number.is_empty() || (number.len() > 1 && number.starts_with('0')) {
                        return None;
                    }
                    shard = Some(number.parse().ok()?);
                    rest = &rest[number.len()..];
                }
            }
        }
        if rest.is_empty() {
            shard
        } else {
            None
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_names_shards_as_before() {
        let p = PhysicalNames::default();
        assert_eq!(p.name("clinical_data", 3), "clinical_data_3");
        assert_eq!(p.shard_of("clinical_data", "clinical_data_3"), Some(3));
        assert_eq!(p.shard_of("clinical_data", "Clinical_Data_12"), Some(12));
        assert_eq!(p.shard_of("clinical_data", "clinical_data_03"), None);
        assert_eq!(p.shard_of("clinical_data", "clinical_data_"), None);
        assert_eq!(p.shard_of("clinical_data", "clinical_data_3x"), None);
        assert_eq!(p.shard_of("clinical_data", "clinical_dat_3"), None);
    }

    #[test]
    fn a_template_names_and_reads_back_its_shards() {
        let p = PhysicalNames::parse("{table}_v2_{shard}").unwrap();
        assert_eq!(p.name("patients", 7), "patients_v2_7");
        assert_eq!(p.shard_of("patients", "patients_v2_7"), Some(7));
        assert_eq!(p.shard_of("patients", "patients_7"), None);
        let p = PhysicalNames::parse("s{shard}_{table}").unwrap();
        assert_eq!(p.name("t", 10), "s10_t");
        assert_eq!(p.shard_of("t", "s10_t"), Some(10));
        assert_eq!(p.shard_of("t", "s10_u"), None);
    }

    #[test]
    fn bad_templates_say_why() {
        for (t, why) in [
            ("{table}", "exactly once"),
            ("{table}_{shard}_{shard}", "exactly once"),
            ("{table}{shard}", "side by side"),
            ("{table}_{shards}", "only {table} and {shard}"),
            ("{table}_{shard", "without its"),
            ("x}_{shard}", "without its"),
            ("a.b_{shard}", "contains"),
            ("{table}_{shard}1", "digit right after"),
        ] {
            let e = PhysicalNames::parse(t).unwrap_err();
            assert!(e.contains(why), "{t}: {e}");
        }
    }

    #[test]
    fn over_long_names_are_reported() {
        let p = PhysicalNames::parse("{table}_with_a_very_long_suffix_{shard}").unwrap();
        assert!(p.too_long(&"x".repeat(40), 16).is_some());
        assert!(p.too_long("x", 16).is_none());
    }
}
