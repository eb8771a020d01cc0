//! Live reload of the rule files (SIGHUP, `SHARDGATE RELOAD`).
//!
//! The files are read and checked exactly as `shardgate check` does; new rules are refused
//! whole when a file has an error or when they would change where existing rows live
//! (`config::layout_change`): the running rules stay, and the reason goes to the log and to
//! the client that asked. Accepted rules are swapped in one step for the statements that
//! start afterwards; statements running, and transactions open, finish on the rules they
//! started with. Each worker rebuilds its pools lazily (`Shared::backends`), keeping those
//! of servers still named; servers the reload added get health checkers here.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::backend::health_check::spawn_checkers;
use crate::config;
use crate::config::layout_change::{layout_changes_allowing, Cutover};
use crate::config::server::{BackendConfig, HealthConfig};
use crate::config::Diagnostics;
use crate::proxy_state::ProxyState;

/// What a reload needs from the server config.
pub(crate) struct ReloadContext {
    pub rules_path: PathBuf,
    pub backend: BackendConfig,
    pub health: HealthConfig,
    pub shutdown: CancellationToken,
}

/// An accepted reload: the generation now served, the warnings the files produced and the
/// layout changes accepted as a resharding cutover.
#[derive(Debug)]
pub struct Reloaded {
    pub generation: u64,
    pub warnings: Vec<String>,
    pub cutovers: Vec<Cutover>,
}

/// A refused reload: the running rules stay.
#[derive(Debug)]
pub struct Refused {
    /// Where the rules were read from.
    pub path: PathBuf,
    /// `file:line: key: reason`, one per problem.
    pub errors: Vec<String>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "reload of {} refused, the running rules stay: {}",
            self.path.display(),
            self.errors.join("; ")
        )
    }
}

/// Layout changes a reload may make: those of the tables a resharding job's cutover names
/// (`database.table`, as `POST /reload?allow_layout=` gives them).
#[derive(Debug, Default, Clone)]
pub struct AllowLayout(pub Vec<(String, String)>);

impl AllowLayout {
    fn allows(&self, db: &str, table: &str) -> bool {
        self.0
            .iter()
            .any(|(d, t)| d.eq_ignore_ascii_case(db) && t.eq_ignore_ascii_case(table))
    }
}

/// Re-reads the rule files and swaps them in if they are valid and move no data (SIGHUP,
/// `SHARDGATE RELOAD`).
pub(crate) fn reload(state: &ProxyState) -> Result<Reloaded, String> {
    reload_allowing(state, &AllowLayout::default()).map_err(|r| r.to_string())
}

/// Like `reload`, but layout changes of the tables `allow` names are accepted (logged as a
/// cutover); any other refused change still refuses the whole reload. Must run on a tokio
/// runtime that outlives the process's serving (new servers' checkers run there).
pub fn reload_allowing(state: &ProxyState, allow: &AllowLayout) -> Result<Reloaded, Refused> {
    // Whatever becomes of the rules, a reload (SIGHUP after logrotate) reopens the log.
    if let Some(log) = state.stats().slow_log() {
        log.reopen();
    }
    let result = try_reload(state, allow);
    state.count_reload(result.is_ok());
    result
}

fn try_reload(state: &ProxyState, allow: &AllowLayout) -> Result<Reloaded, Refused> {
    let guard = match state.reload.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    let Some(ctx) = guard.as_ref() else {
        return Err(Refused {
            path: PathBuf::new(),
            errors: vec!["the server is not serving yet".into()],
        });
    };
    let (rules, diagnostics) = config::load_rules_and_diagnostics(&ctx.rules_path);
    let Some(rules) = rules else {
        return Err(refused(&ctx.rules_path, &diagnostics));
    };
    let old = state.rules();
    let layout = layout_changes_allowing(&old, &rules, &|db, table| allow.allows(db, table));
    let changes = Diagnostics(layout.refused);
    if changes.has_errors() {
        return Err(refused(&ctx.rules_path, &changes));
    }
    let warnings: Vec<String> = diagnostics
        .iter()
        .chain(changes.iter())
        .map(ToString::to_string)
        .collect();
    for w in &warnings {
        tracing::warn!("reload: {w}");
    }
    for c in &layout.cutovers {
        tracing::info!("reload: cutover: {c}");
    }
    state.health().register(&rules);
    let summary = summary(&rules);
    let rules = Arc::new(rules);
    crate::backend::key_columns::carry_over(&old, &rules);
    state.swap_rules(rules.clone());
    // Tables the new rules name for the first time: merged reads weigh every key until then.
    state.column_orders.sorts.learn_again();
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::spawn(crate::backend::key_columns::learn_and_log(
            rules,
            ctx.backend.clone(),
        ));
        spawn_checkers(
            state.health(),
            &ctx.backend,
            &ctx.health,
            ctx.shutdown.clone(),
        );
    }
    let generation = state.generation();
    tracing::info!(
        "reloaded the rules from {} (generation {generation}): {summary}",
        ctx.rules_path.display()
    );
    Ok(Reloaded {
        generation,
        warnings,
        cutovers: layout.cutovers,
    })
}

fn refused(path: &std::path::Path, d: &Diagnostics) -> Refused {
    let refused = Refused {
        path: path.to_path_buf(),
        errors: d.errors().map(ToString::to_string).collect(),
    };
    tracing::error!("{refused}");
    refused
}

fn summary(rules: &config::model::Rules) -> String {
    rules
        .databases()
        .values()
        .map(|db| {
            format!(
                "{} ({} groups, {} tables)",
                db.name,
                db.groups.len(),
                db.tables.len()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// SIGHUP reloads, as operators expect of a daemon (`systemctl reload`); without a handler
/// the signal would end the process.
#[cfg(unix)]
pub(crate) fn reload_on_hangup(state: Arc<ProxyState>, shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGHUP (reload with SHARDGATE RELOAD): {e}");
            return;
        }
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                got = hangups.recv() => {
                    if got.is_none() {
                        return;
                    }
                    // Errors are logged by `reload`.
                    let _ = reload(&state);
                }
            }
        }
    });
}
