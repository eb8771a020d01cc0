//! Backend error messages in logical names. A shard's server speaks of its physical tables
//! and schema ("Table 'sgt_x.clinical_data_2' doesn't exist"); the client knows only the
//! logical ones, and a physical name in a message invites it to use that name (which the
//! planner refuses). Codes and SQLSTATEs are kept as the backend sent them.

use crate::config::model::Database;
use crate::error::Error;

use super::Failure;

/// `f` with the names in a backend error message made logical.
pub(crate) fn failure(f: Failure, db: &Database) -> Failure {
    match f {
        Failure::Query(e) => Failure::Query(error(e, db)),
        other => other,
    }
}

/// `e` with the names in a backend error message made logical (also used where a statement
/// is prepared on a backend).
pub fn error(e: Error, db: &Database) -> Error {
    match e {
        Error::Backend(mut b) => {
            b.message = message(&b.message, db);
            Error::Backend(b)
        }
        Error::PartlyApplied {
            cause,
            failed,
            done,
            skipped,
        } => Error::PartlyApplied {
            cause: Box::new(error(*cause, db)),
            failed,
            done,
            skipped,
        },
        other => other,
    }
}

/// Replaces each whole word that is a physical shard table name by its logical table, and
/// each group's physical schema followed by `.` (or, back-quoted, by `` `. ``, as foreign key
/// errors print it) by the logical database.
pub(crate) fn message(msg: &str, db: &Database) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(start) = rest.find(is_word) {
        out.push_str(&rest[..start]);
        let word_len = rest[start..]
            .find(|c| !is_word(c))
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + word_len];
        let after = &rest[start + word_len..];
        if let Some(rule) = db.sharded_table_of_physical(word) {
            out.push_str(&rule.name);
        } else if (after.starts_with('.') || after.starts_with("`."))
            && db.groups.iter().any(|g| g.schema == word)
        {
            out.push_str(&db.name);
        } else {
            out.push_str(word);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::fixture::rules;

    #[test]
    fn physical_names_become_logical() {
        let rules = rules();
        let shop = rules.database("shop").unwrap();
        assert_eq!(
            message("Table 'shop_b.users_1' doesn't exist", shop),
            "Table 'shop.users' doesn't exist"
        );
        assert_eq!(
            message("Unknown column 'x' in 'users_0'; users_7 shop_a", shop),
            "Unknown column 'x' in 'users'; users_7 shop_a"
        );
        let clinical = rules.database("clinical").unwrap();
        assert_eq!(
            message(
                "Cannot add or update a child row: `clinical`.`patients_3`, é clinical_data_01",
                clinical
            ),
            "Cannot add or update a child row: `clinical`.`patients`, é clinical_data_01"
        );
        // The server's foreign key error quotes the schema and the table separately.
        let schema = &clinical.groups[0].schema;
        assert_eq!(
            message(
                &format!(
                    "a foreign key constraint fails (`{schema}`.`trial_enrollment_0`, CONSTRAINT \
                     `fk` FOREIGN KEY (`patient_id`) REFERENCES `patients_0` (`id`))"
                ),
                clinical
            ),
            "a foreign key constraint fails (`clinical`.`trial_enrollment`, CONSTRAINT `fk` \
             FOREIGN KEY (`patient_id`) REFERENCES `patients` (`id`))"
        );
    }
}
