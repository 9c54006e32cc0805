//! Reload without restart, on `SIGHUP` and on `POST /_synapse/admin/v1/mxmod/reload`:
//! the config file is read and validated again; on any problem the running registry is
//! kept and every problem is logged with its line:column (and returned). Otherwise a new
//! registry is built from the new `modules:` list and swapped in atomically
//! ([`LiveModules::replace`]); requests in flight finish on the old one, dropped when the
//! last of them ends.
//!
//! With several processes on one PostgreSQL database, `SIGHUP` reloads the process that
//! receives it; the admin endpoint also asks every other process
//! ([`Reloader::reload_everywhere`]), through the notification channel that carries
//! wake-ups and cache invalidations. Each of them reloads from its own config file on a
//! task of its own ([`reload_on_request`]), exactly as on `SIGHUP`.
//!
//! Every module gets a new instance, changed or not: an instance belongs to one registry
//! (its web routes, caches, background tasks and shutdown hooks end with it), so a
//! reload is exactly a restart of the modules — no state derived from an old config can
//! survive it — at the price of cold `#[cached]` caches. Settings outside `modules:` are
//! not applied: each one that differs from what the server started with is reported as
//! needing a restart.

use std::{path::PathBuf, sync::Arc};

use mxmod::{
    config::ConfigProblems,
    registry::{Registry, StartOptions},
};

use crate::{config, modules::LiveModules, storage::postgres::PostgresStorage};

/// What a reload did.
#[derive(Debug)]
pub(crate) enum ReloadOutcome {
    /// The new registry serves; `restart_required` lists the changed settings outside
    /// `modules:` that take effect only after a restart.
    Reloaded {
        /// The modules now running, in order.
        modules: Vec<&'static str>,
        /// Changed top-level settings that need a restart.
        restart_required: Vec<String>,
    },
    /// The config has problems; nothing changed.
    BadConfig(ConfigProblems),
    /// A module failed to start; nothing changed.
    ModulesFailed(String),
    /// The server runs on the embedded default config: there is no file to read again.
    NoFile,
}

/// Whether the other processes on the database were asked to reload too.
#[derive(Debug)]
pub(crate) enum OtherProcesses {
    /// One process (SQLite): there are none.
    None,
    /// The request went out; each process reloads on its own, after the answer.
    Notified,
    /// The request could not be sent (the database failed); logged.
    NotNotified(String),
}

/// Reloads the modules of a running server; one reload at a time.
pub(crate) struct Reloader {
    source: Option<PathBuf>,
    options: StartOptions,
    /// The settings outside `modules:` the process runs with (read at start-up).
    running_settings: serde_yaml::Mapping,
    /// The database the other processes share (PostgreSQL); `None` on SQLite.
    cluster: Option<Arc<PostgresStorage>>,
    busy: tokio::sync::Mutex<()>,
}

impl Reloader {
    /// A reloader for a server started from `source` with these settings and options;
    /// `cluster` is the database shared with other processes, if any.
    pub(crate) fn new(
        source: Option<PathBuf>,
        running_settings: serde_yaml::Mapping,
        options: StartOptions,
        cluster: Option<Arc<PostgresStorage>>,
    ) -> Self {
        Self { source, options, running_settings, cluster, busy: tokio::sync::Mutex::new(()) }
    }

    /// Asks the other processes to reload (each from its own file, asynchronously), then
    /// reloads this one: what this process did, and whether the others were asked.
    pub(crate) async fn reload_everywhere(&self, modules: &LiveModules) -> (ReloadOutcome, OtherProcesses) {
        let others = match &self.cluster {
            None => OtherProcesses::None,
            Some(cluster) => match cluster.request_reload().await {
                Ok(()) => OtherProcesses::Notified,
                Err(error) => {
                    tracing::error!("cannot ask the other processes to reload their modules: {error}");
                    OtherProcesses::NotNotified(error.to_string())
                }
            },
        };
        (self.reload(modules).await, others)
    }

    /// Reads the config again and, if it is sound, serves its modules from now on.
    pub(crate) async fn reload(&self, modules: &LiveModules) -> ReloadOutcome {
        let _one_at_a_time = self.busy.lock().await;
        let Some(path) = self.source.clone() else {
            tracing::warn!("reload: the server runs on the embedded default config; there is no file to read");
            return ReloadOutcome::NoFile;
        };
        let loaded = match tokio::task::spawn_blocking(move || config::load_file(&path)).await {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(problems)) => {
                for problem in &problems.problems {
                    tracing::error!("reload refused, the modules are unchanged: {}:{problem}", problems.file);
                }
                return ReloadOutcome::BadConfig(problems);
            }
            Err(error) => return ReloadOutcome::ModulesFailed(format!("reading the config failed: {error}")),
        };
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
        let restart_required = changed_settings(&self.running_settings, &loaded.settings);
        let names: Vec<&'static str> = loaded.modules.iter().map(|entry| entry.descriptor.name).collect();
        let registry = match Registry::start(loaded.modules, &self.options) {
            Ok(registry) => registry,
            Err(error) => {
                tracing::error!("reload refused, the modules are unchanged: {error}");
                return ReloadOutcome::ModulesFailed(error.to_string());
            }
        };
        for shadowed in registry.routes().shadowed() {
            tracing::warn!(
                "web resource {} of module `{}` is shadowed by module `{}`",
                shadowed.path,
                shadowed.loser,
                shadowed.winner
            );
        }
        // The old registry goes when the last request pinned to it ends (maybe now).
        drop(modules.replace(registry));
        tracing::info!("modules reloaded: {}", names.join(", "));
        for key in &restart_required {
            tracing::warn!("setting `{key}` changed; it takes effect after a restart");
        }
        ReloadOutcome::Reloaded { modules: names, restart_required }
    }
}

/// The top-level keys whose values differ (present in one only, or changed), sorted.
fn changed_settings(running: &serde_yaml::Mapping, read: &serde_yaml::Mapping) -> Vec<String> {
    let mut changed: Vec<String> = running
        .iter()
        .filter(|(key, value)| read.get(*key) != Some(*value))
        .chain(read.iter().filter(|(key, _)| !running.contains_key(*key)))
        .map(|(key, _)| key.as_str().map(str::to_owned).unwrap_or_else(|| format!("{key:?}")))
        .collect();
    changed.sort();
    changed.dedup();
    changed
}

/// Reloads this process when another process asks (the admin endpoint there): called on
/// the change listener's task, so the reload runs on a task of its own.
pub(crate) fn reload_on_request(state: &std::sync::Weak<crate::state::AppState>) {
    let Some(state) = state.upgrade() else { return };
    tokio::spawn(async move {
        tracing::info!("another process asked for a reload: reloading the modules");
        state.reloader.reload(&state.modules).await;
    });
}

/// What reloads on every `SIGHUP` while the server runs, to spawn. The handler is installed
/// when this is called, not when the task first runs, so a `SIGHUP` sent as soon as the
/// server listens reloads it rather than ending it (the signal's default action); `None`
/// if it cannot be installed.
#[cfg(unix)]
pub(crate) fn reload_on_sighup(
    state: std::sync::Weak<crate::state::AppState>,
) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload through the admin API");
        return None;
    };
    Some(async move {
        while hangups.recv().await.is_some() {
            let Some(state) = state.upgrade() else { return };
            tracing::info!("SIGHUP: reloading the modules");
            state.reloader.reload(&state.modules).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(text: &str) -> serde_yaml::Mapping {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn changed_added_and_removed_settings_are_reported_once_each() {
        let running = mapping("server_name: a\nenable_metrics: true\nlisteners: [{port: 1}]\n");
        let read = mapping("server_name: a\nlisteners: [{port: 2}]\nenable_registration: true\n");
        assert_eq!(changed_settings(&running, &read), ["enable_metrics", "enable_registration", "listeners"]);
        assert!(changed_settings(&running, &running).is_empty());
    }
}
