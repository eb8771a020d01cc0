//! The seeded data set: the demo's tables (hospitals broadcast; patients, trial_enrollment,
//! clinical_data sharded by hospital_id % 4 over two groups), with the values that make
//! merges hard: NULLs, many ties, utf8mb4 names differing only by case or accent in a
//! case- and accent-insensitive collation, DECIMAL with ties, DATE / DATETIME(3), hospital
//! ids without a hospital row (so inner and outer joins differ).
//!
//! The same rows go through shardgate into the sharded layout and straight into one
//! unsharded schema, the oracle.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::rng::Rng;

/// Collation of every text column: the server default for utf8mb4, case- and
/// accent-insensitive, so 'Zoé', 'zoe' and 'ZOE' are equal.
pub const COLLATION: &str = "utf8mb4_general_ci";

/// `CREATE TABLE` for logical table `table` under the name `name`.
pub fn create_table(table: &str, name: &str) -> String {
    let cols = match table {
        "hospitals" => "id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, city VARCHAR(100) NULL",
        "patients" => {
            "id BIGINT PRIMARY KEY, hospital_id INT NOT NULL, name VARCHAR(100) NOT NULL, \
             birth_date DATE NULL, created_at DATETIME NULL, \
             nick VARCHAR(20) COLLATE utf8mb4_unicode_ci NULL, score DOUBLE NULL"
        }
        "trial_enrollment" => {
            "id BIGINT PRIMARY KEY, hospital_id INT NOT NULL, patient_id BIGINT NOT NULL, \
             trial_code VARCHAR(32) NOT NULL, enrolled_at DATETIME NULL, \
             phase ENUM('III', 'I', 'II') NULL, flag BIT(3) NULL, \
             tag VARCHAR(8) COLLATE utf8mb4_unicode_nopad_ci NULL"
        }
        "clinical_data" => {
            "id BIGINT PRIMARY KEY, hospital_id INT NOT NULL, patient_id BIGINT NOT NULL, \
             measure VARCHAR(64) NOT NULL, value DECIMAL(10,3) NULL, recorded_at DATETIME(3) NULL, \
             note TEXT NULL, amount DECIMAL(30,10) NULL"
        }
        other => panic!("no table {other}"),
    };
    let key = if table == "hospitals" {
        ""
    } else {
        ", KEY ix_h (hospital_id)"
    };
    format!("CREATE TABLE {name} ({cols}{key}) DEFAULT CHARACTER SET utf8mb4 COLLATE {COLLATION}")
}

/// The column list of `table`, in the order `generate` writes values.
fn column_names(table: &str) -> &'static str {
    match table {
        "hospitals" => "id, name, city",
        "patients" => "id, hospital_id, name, birth_date, created_at, nick, score",
        "trial_enrollment" => {
            "id, hospital_id, patient_id, trial_code, enrolled_at, phase, flag, tag"
        }
        _ => "id, hospital_id, patient_id, measure, value, recorded_at, note, amount",
    }
}

pub const TABLES: [&str; 4] = ["hospitals", "patients", "trial_enrollment", "clinical_data"];

/// Hospital ids rows use; hospitals 0..=9 exist, 10..=13 do not.
pub const MAX_HOSPITAL: i64 = 13;
pub const HOSPITAL_ROWS: i64 = 10;

pub const NAMES: &[&str] = &[
    "Zoé", "zoe", "ZOE", "Émile", "emile", "Ana", "ana", "Ñandú", "nandu", "Ève", "eve", "Bob",
    "bob", "Çelik", "celik", "Jürgen", "jurgen", "Léa", "LEA",
];
pub const CITIES: &[&str] = &[
    "Paris", "paris", "Lyon", "LYON", "Zürich", "zurich", "Genève",
];
pub const TRIALS: &[&str] = &["T1", "t1", "T2", "ALPHA", "alpha", "Bêta", "beta"];
pub const MEASURES: &[&str] = &[
    "bp",
    "BP",
    "pulse",
    "Pulse",
    "température",
    "temperature",
    "weight",
];
/// Nicknames in a utf8mb4_unicode_ci column: PAD SPACE ('bo' = 'bo  ', '' = ' '), case,
/// accents, and 'ß' = 'ss' (unlike utf8mb4_general_ci, where 'ß' = 's').
pub const NICKS: &[&str] = &[
    "ann", "Ann ", "ANN", "ánn", "ß", "ss", "SS", "bo", "bo  ", "Bö", "", " ", "zed", "Zed   ",
];
/// DOUBLE values whose sums stay exact in any order (integers only, and few large ones, all
/// below 2^53 together, even summed over a join), so the sum has one right answer; the large ones make sums of 1e15
/// and more, which MariaDB prints with an exponent.
pub const SCORES: &[&str] = &["0", "1", "-2", "3", "-4", "7", "-10"];
pub const BIG_SCORES: &[&str] = &["2.5e14", "5e14"];
/// DECIMAL(30,10) values: negative, many digits, ties.
pub const AMOUNTS: &[&str] = &[
    "-0.0000000001",
    "-123456789012345678.0123456789",
    "999999999999999999.9999999999",
    "-999999999999999999.9999999999",
    "0.5000000000",
    "-7.25",
    "12345.6789",
];
/// ENUM values, declared out of alphabetical order: ORDER BY follows the declaration.
pub const PHASES: &[&str] = &["III", "I", "II"];
/// Text in a NO PAD collation: trailing spaces count ('a' < 'a '), case does not.
pub const TAGS: &[&str] = &["a", "A", "a ", "b", "B ", "", " "];
pub const NOTES: &[&str] = &["ok", "OK", "fièvre", "fievre", "à revoir", "A REVOIR"];

/// Rows as SQL value tuples, per table, in insertion order.
pub struct Data {
    pub rows: Vec<(&'static str, Vec<String>)>,
    pub patients: i64,
}

fn quote(s: impl AsRef<str>) -> String {
    let s = s.as_ref();
    format!("'{}'", s.replace('\'', "''"))
}

fn date(r: &mut Rng) -> String {
    // Few distinct dates, so ORDER BY meets ties.
    format!(
        "'{}-{:02}-{:02}'",
        r.range(1950, 1954),
        r.range(1, 3),
        r.range(1, 2)
    )
}

fn datetime(r: &mut Rng, millis: bool) -> String {
    let base = format!(
        "2024-0{}-0{} {:02}:{:02}:00",
        r.range(1, 3),
        r.range(1, 3),
        r.range(8, 9),
        r.pick(&[0, 30])
    );
    if millis {
        format!("'{base}.{:03}'", r.pick(&[0, 0, 125, 500]))
    } else {
        format!("'{base}'")
    }
}

/// `v`, or NULL with probability `percent`/100 (decided before `v` is drawn).
fn or_null(r: &mut Rng, percent: u64, v: impl FnOnce(&mut Rng) -> String) -> String {
    if r.chance(percent) {
        "NULL".into()
    } else {
        v(r)
    }
}

pub fn generate(seed: u64) -> Data {
    let mut r = Rng::new(seed);
    let mut rows = Vec::new();
    let mut h = Vec::new();
    for id in 0..HOSPITAL_ROWS {
        let city = or_null(&mut r, 20, |r| quote(r.pick(CITIES)));
        h.push(format!("({id}, {}, {city})", quote(format!("H{}", id % 7))));
    }
    rows.push(("hospitals", h));

    let patients = 200;
    let mut p = Vec::new();
    let mut hospital_of = Vec::new();
    for id in 1..=patients {
        let hid = r.range(0, MAX_HOSPITAL);
        hospital_of.push(hid);
        let name = quote(r.pick(NAMES));
        let birth = or_null(&mut r, 15, date);
        let created = or_null(&mut r, 15, |r| datetime(r, false));
        let nick = or_null(&mut r, 15, |r| quote(r.pick(NICKS)));
        let score = or_null(&mut r, 15, |r| {
            if r.chance(2) {
                r.pick(BIG_SCORES).to_string()
            } else {
                r.pick(SCORES).to_string()
            }
        });
        p.push(format!(
            "({id}, {hid}, {name}, {birth}, {created}, {nick}, {score})"
        ));
    }
    rows.push(("patients", p));

    let mut t = Vec::new();
    for id in 1..=250 {
        let pid = r.range(1, patients);
        // Mostly on the patient's hospital; some rows point at no patient of their shard.
        let hid = if r.chance(85) {
            hospital_of[(pid - 1) as usize]
        } else {
            r.range(0, MAX_HOSPITAL)
        };
        let code = quote(r.pick(TRIALS));
        let at = or_null(&mut r, 20, |r| datetime(r, false));
        let phase = or_null(&mut r, 20, |r| quote(r.pick(PHASES)));
        let flag = or_null(&mut r, 20, |r| r.range(0, 7).to_string());
        let tag = or_null(&mut r, 20, |r| quote(r.pick(TAGS)));
        t.push(format!(
            "({id}, {hid}, {pid}, {code}, {at}, {phase}, {flag}, {tag})"
        ));
    }
    rows.push(("trial_enrollment", t));

    let mut c = Vec::new();
    for id in 1..=500 {
        let pid = r.range(1, patients);
        let hid = if r.chance(90) {
            hospital_of[(pid - 1) as usize]
        } else {
            r.range(0, MAX_HOSPITAL)
        };
        let measure = quote(r.pick(MEASURES));
        let value = if r.chance(15) {
            "NULL".to_string()
        } else if r.chance(50) {
            // Ties.
            r.pick(&["1.500", "36.600", "120.000", "0.000", "-2.250"])
                .to_string()
        } else {
            format!("{}.{:03}", r.range(-50, 500), r.range(0, 999))
        };
        let at = or_null(&mut r, 15, |r| datetime(r, true));
        let note = or_null(&mut r, 40, |r| quote(r.pick(NOTES)));
        let amount = or_null(&mut r, 20, |r| r.pick(AMOUNTS).to_string());
        c.push(format!(
            "({id}, {hid}, {pid}, {measure}, {value}, {at}, {note}, {amount})"
        ));
    }
    rows.push(("clinical_data", c));
    Data { rows, patients }
}

/// How a copy of the data is stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// As generated (through shardgate, or the oracle).
    AsGenerated,
    /// Aria tables (scanned in insertion order) filled in reverse: a server that reads rows
    /// in another order. Where its answer differs from the oracle's, the query's answer is
    /// not well defined, and the generator is wrong.
    Reversed,
}

/// Creates the logical tables through `conn` (shardgate fans the DDL out; the oracle takes
/// it as is) and inserts the rows in multi-row INSERTs (split per shard by shardgate).
pub async fn load(conn: &mut Conn, data: &Data, layout: Layout) {
    for table in TABLES {
        let mut sql = create_table(table, table);
        if layout == Layout::Reversed {
            sql.push_str(" ENGINE=Aria");
        }
        conn.query_drop(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    for (table, rows) in &data.rows {
        let mut rows = rows.clone();
        if layout == Layout::Reversed {
            rows.reverse();
        }
        for chunk in rows.chunks(40) {
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES {}",
                column_names(table),
                chunk.join(", ")
            );
            conn.query_drop(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
}
