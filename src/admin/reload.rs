//! `SHARDGATE RELOAD`: the SQL twin of SIGHUP, for operators who reach the proxy only over
//! the MySQL protocol. Admin users only; the answer says which rules generation now serves,
//! or why the files were refused (the running rules then stay).
//!
//! `POST /reload` on the admin HTTP endpoint is the same reload for a resharding job:
//! `?allow_layout=db.table,...` accepts layout changes of exactly those tables (the job's
//! cutover moved their rows); any other refused change still refuses the whole reload.
//! 200 with a summary, 409 with the diagnostics, one per line.

use crate::proxy_state::ProxyState;
use crate::reload::{reload_allowing, AllowLayout};

use super::http::{Params, Response};

pub fn reload_endpoint(state: &ProxyState, p: &Params) -> Response {
    if let Err(bad) = p.only(&["allow_layout"]) {
        return bad;
    }
    let allow = match allowed_tables(state, p.get("allow_layout").unwrap_or("")) {
        Ok(a) => a,
        Err(bad) => return bad,
    };
    match reload_allowing(state, &allow) {
        Ok(done) => {
            let mut body = format!("reloaded: rules generation {}\n", done.generation);
            for c in &done.cutovers {
                body.push_str(&format!("cutover: {c}\n"));
            }
            for (db, table) in &allow.0 {
                let changed = done
                    .cutovers
                    .iter()
                    .any(|c| c.database == *db && c.table == *table);
                if !changed {
                    body.push_str(&format!("unchanged: {db}.{table}\n"));
                }
                if changed && !held(state, db, table) {
                    tracing::warn!(
                        "reload: the layout of {db}.{table} changed while its writes were not \
                         held (POST /hold first, or rows written meanwhile may be out of place)"
                    );
                    body.push_str(&format!("warning: {db}.{table} was not held\n"));
                }
            }
            for w in &done.warnings {
                body.push_str(&format!("warning: {w}\n"));
            }
            Response::text(200, body)
        }
        Err(refused) => {
            let mut body = format!(
                "reload of {} refused, the running rules stay:\n",
                refused.path.display()
            );
            for e in &refused.errors {
                body.push_str(e);
                body.push('\n');
            }
            Response::text(409, body)
        }
    }
}

/// `db.table,...` checked against the running rules, spelled as they spell them.
fn allowed_tables(state: &ProxyState, list: &str) -> Result<AllowLayout, Response> {
    let rules = state.rules();
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((db, table)) = entry.split_once('.') else {
            return Err(Response::text(
                400,
                format!("allow_layout entry `{entry}` is not `database.table`"),
            ));
        };
        let Some(d) = rules.database(db) else {
            return Err(super::hold::unknown_database(db, state));
        };
        let Some(t) = d.table(table) else {
            return Err(Response::text(
                400,
                format!(
                    "allow_layout: table `{table}` is not in the rules of database `{}`",
                    d.name
                ),
            ));
        };
        out.push((d.name.clone(), t.name.clone()));
    }
    Ok(AllowLayout(out))
}

fn held(state: &ProxyState, db: &str, table: &str) -> bool {
    state.holds().list().iter().any(|h| {
        h.database.eq_ignore_ascii_case(db)
            && h.tables.iter().any(|t| t.eq_ignore_ascii_case(table))
    })
}

/// True for `SHARDGATE RELOAD` (any case, an optional `;`).
pub fn is_reload(sql: &str) -> bool {
    let mut words = sql.trim().trim_end_matches(';').split_ascii_whitespace();
    matches!(
        (words.next(), words.next(), words.next()),
        (Some(a), Some(b), None)
            if a.eq_ignore_ascii_case("SHARDGATE") && b.eq_ignore_ascii_case("RELOAD")
    )
}

#[cfg(test)]
mod tests {
    use super::is_reload;

    #[test]
    fn recognises_the_statement_only() {
        assert!(is_reload("SHARDGATE RELOAD"));
        assert!(is_reload("  shardgate   reload ; "));
        assert!(!is_reload("SHARDGATE RELOAD NOW"));
        assert!(!is_reload("SELECT 'SHARDGATE RELOAD'"));
    }
}
