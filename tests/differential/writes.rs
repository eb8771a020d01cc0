//! Seeded writes for the second phase: UPDATE / DELETE with and without the shard key (so on
//! one, some or every shard), multi-table UPDATEs of bound tables and with the broadcast
//! table, and INSERT / REPLACE / UPDATE / DELETE of the broadcast table. Each is applied
//! through shardgate and to the oracle; affected rows, the info string and warnings must
//! agree, and so must every table afterwards.
//!
//! Like the queries, every write has one right effect: SET expressions are deterministic
//! and no write uses ORDER BY / LIMIT.

use super::gen::{columns, where_clause, From, CLINICAL, HOSPITALS, PATIENTS, SHARDED};
use super::rng::Rng;

pub struct Write {
    pub sql: String,
    pub tags: Vec<&'static str>,
}

fn single(t: &super::gen::Table) -> From {
    From {
        sql: t.name.to_string(),
        cols: columns(t, false),
        unique: "id".into(),
        key: Some("hospital_id".into()),
    }
}

/// A WHERE that never empties a whole table, so later writes still find rows.
fn bounded_where(r: &mut Rng, f: &From, tags: &mut Vec<&'static str>) -> String {
    let w = where_clause(r, f, tags);
    if w.is_empty() {
        format!(" WHERE {} % 10 = {}", f.unique, r.range(0, 9))
    } else {
        w
    }
}

fn set_clause(r: &mut Rng, table: &str) -> &'static str {
    let choices: &[&'static str] = match table {
        "patients" => &[
            "name = UPPER(name)",
            "created_at = '2024-05-05 10:00:00'",
            "birth_date = NULL",
        ],
        "trial_enrollment" => &["trial_code = LOWER(trial_code)", "enrolled_at = NULL"],
        _ => &[
            "value = value + 1",
            "note = CONCAT(IFNULL(note, ''), '!')",
            "measure = 'Bp'",
        ],
    };
    choices[r.range(0, choices.len() as i64 - 1) as usize]
}

/// Write number `i` of the run with `seed`.
pub fn write(seed: u64, i: u64) -> Write {
    let mut r = Rng::derive(seed ^ 0x5752_4954_4553, i);
    let mut tags = Vec::new();
    let sql = match r.range(0, 99) {
        0..=29 => {
            tags.push("UPDATE");
            let t = *r.pick(&SHARDED);
            let f = single(t);
            let set = set_clause(&mut r, t.name);
            format!(
                "UPDATE {} SET {set}{}",
                t.name,
                bounded_where(&mut r, &f, &mut tags)
            )
        }
        30..=44 => {
            tags.push("DELETE");
            let t = *r.pick(&SHARDED);
            let f = single(t);
            // Few rows at a time, so the data lasts.
            format!(
                "DELETE FROM {}{} AND {} % 5 = {}",
                t.name,
                bounded_where(&mut r, &f, &mut tags),
                f.unique,
                r.range(0, 4)
            )
        }
        45..=59 => {
            tags.push("UPDATE join bound on key");
            let mut cols = columns(&PATIENTS, true);
            cols.extend(columns(&CLINICAL, true));
            let key = if r.chance(50) { "p" } else { "c" };
            let f = From {
                sql: String::new(),
                cols,
                unique: "c.id".into(),
                key: Some(format!("{key}.hospital_id")),
            };
            format!(
                "UPDATE patients p JOIN clinical_data c ON c.hospital_id = p.hospital_id \
                 AND c.patient_id = p.id SET c.note = p.name{}",
                bounded_where(&mut r, &f, &mut tags)
            )
        }
        60..=69 => {
            tags.push("UPDATE join broadcast");
            let mut cols = columns(&CLINICAL, true);
            cols.extend(columns(&HOSPITALS, true));
            let f = From {
                sql: String::new(),
                cols,
                unique: "c.id".into(),
                key: Some("c.hospital_id".into()),
            };
            format!(
                "UPDATE clinical_data c JOIN hospitals h ON h.id = c.hospital_id \
                 SET c.note = h.city{}",
                bounded_where(&mut r, &f, &mut tags)
            )
        }
        n => {
            let id = r.range(0, 16);
            let city = *r.pick(&["'Nîmes'", "'nimes'", "NULL", "'Lyon'"]);
            match n % 4 {
                0 => {
                    tags.push("INSERT broadcast");
                    format!(
                        "INSERT INTO hospitals (id, name, city) VALUES ({id}, 'H{id}', {city}), \
                         ({}, 'H', NULL) ON DUPLICATE KEY UPDATE city = VALUES(city)",
                        id + 20
                    )
                }
                1 => {
                    tags.push("REPLACE broadcast");
                    format!(
                        "REPLACE INTO hospitals (id, name, city) VALUES ({id}, 'R{id}', {city})"
                    )
                }
                2 => {
                    tags.push("UPDATE broadcast");
                    format!(
                        "UPDATE hospitals SET city = {city} WHERE id IN ({id}, {})",
                        r.range(0, 16)
                    )
                }
                _ => {
                    tags.push("DELETE broadcast");
                    format!("DELETE FROM hospitals WHERE id = {id}")
                }
            }
        }
    };
    tags.sort_unstable();
    tags.dedup();
    Write { sql, tags }
}
