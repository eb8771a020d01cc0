//! The rule file a cutover writes: the running file with the moving family's layout keys
//! replaced, everything else (comments, order, other tables) kept byte for byte, because
//! people review these files in pull requests.

use toml_edit::{value, Array, DocumentMut, Item};

use super::job::RawTarget;
use crate::config::raw::RawAlgorithm;

/// `text` with the root table (first of `family`) given the target layout and every table of
/// the family given the target's `physical` template. Keys a bound table states itself
/// (allowed when they agree with the root) are restated with the new values.
pub fn retarget(text: &str, family: &[String], target: &RawTarget) -> Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| format!("the rule file does not parse: {e}"))?;
    let tables = doc
        .get_mut("tables")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or("the rule file has no [[tables]]")?;
    let root = family.first().ok_or("empty family")?;
    let mut found = 0;
    for entry in tables.iter_mut() {
        let Some(name) = entry.get("name").and_then(Item::as_str).map(str::to_owned) else {
            continue;
        };
        let Some(position) = family.iter().position(|f| f.eq_ignore_ascii_case(&name)) else {
            continue;
        };
        found += 1;
        let is_root = position == 0 && name.eq_ignore_ascii_case(root);
        let mut set = |key: &str, item: Item| {
            if is_root || entry.contains_key(key) {
                entry.insert(key, item);
            }
        };
        if let Some(a) = target.algorithm {
            set("algorithm", value(algorithm_name(a)));
        }
        if let Some(n) = target.shards {
            set("shards", value(n));
        }
        if let Some(p) = &target.placement {
            let mut array = Array::new();
            for g in p {
                array.push(g.as_str());
            }
            set("placement", value(array));
        }
        if let Some(c) = &target.key_collation {
            set("key_collation", value(c.as_str()));
        }
        match &target.physical {
            Some(template) => {
                entry.insert("physical", value(template.as_str()));
            }
            None => {
                entry.remove("physical");
            }
        }
    }
    if found != family.len() {
        return Err(format!(
            "found {found} of the family's {} [[tables]] entries ({})",
            family.len(),
            family.join(", ")
        ));
    }
    Ok(doc.to_string())
}

fn algorithm_name(a: RawAlgorithm) -> &'static str {
    match a {
        RawAlgorithm::Mod => "mod",
        RawAlgorithm::Hash => "hash",
        RawAlgorithm::Ring => "ring",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# the clinical layout
[database]
name = "clinical"
default_group = "g0"

[[tables]]
name = "clinical_data"   # root
shard_key = "hospital_id"
algorithm = "mod"
shards = 4
placement = ["g0", "g0",
             "g1", "g1"]

[[tables]]
name = "patients"
bind_to = "clinical_data"
shard_key = "hospital_id"

[[tables]]
name = "hospitals"
broadcast = true
"#;

    #[test]
    fn the_family_gets_the_target_and_the_rest_stays_as_written() {
        let target = RawTarget {
            algorithm: None,
            shards: Some(8),
            placement: Some(
                ["g0", "g0", "g1", "g1", "g2", "g2", "g2", "g2"]
                    .map(String::from)
                    .to_vec(),
            ),
            physical: Some("{table}_v2_{shard}".into()),
            key_collation: None,
        };
        let out = retarget(FILE, &["clinical_data".into(), "patients".into()], &target).unwrap();
        assert!(
            out.starts_with("# the clinical layout\n[database]"),
            "{out}"
        );
        assert!(out.contains("name = \"clinical_data\"   # root"), "{out}");
        assert!(out.contains("shards = 8"), "{out}");
        assert!(out.contains("algorithm = \"mod\""), "{out}");
        assert!(
            out.contains(r#"placement = ["g0", "g0", "g1", "g1", "g2", "g2", "g2", "g2"]"#),
            "{out}"
        );
        assert_eq!(
            out.matches("physical = \"{table}_v2_{shard}\"").count(),
            2,
            "{out}"
        );
        assert!(
            out.ends_with("name = \"hospitals\"\nbroadcast = true\n"),
            "{out}"
        );
        // And back: the rollback file is the one before, not a second edit.
        assert!(retarget(FILE, &["missing".into()], &target).is_err());
    }
}
