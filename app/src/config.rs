//! The homeserver configuration: a Synapse `homeserver.yaml` subset. Unknown top-level
//! keys (a real Synapse file has many) are warnings; module configs are strict and go
//! through `mxmod::config`.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
};

use mxmod::{
    config::{self as modconfig, ConfigProblem, ConfigProblems, ModuleEntry},
    types::OwnedServerName,
};
use serde::{de, Deserialize, Deserializer};

mod database;
mod limits;
mod rate_limits;

pub use self::{
    database::{DatabaseArgs, DatabaseBackend, DatabaseConfig, PostgresSettings},
    limits::LimitsConfig,
    rate_limits::{InviteRateLimits, JoinRateLimits, LoginRateLimits, RateLimit, RateLimitConfig},
};

/// The embedded default configuration (`mxmod generate-config` prints it).
pub const DEFAULT_CONFIG: &str = include_str!("default.yaml");

/// Name shown for the embedded default in messages.
pub const DEFAULT_CONFIG_NAME: &str = "<embedded default config>";

/// The parsed configuration.
#[derive(Debug, Deserialize)]
pub struct HomeserverConfig {
    /// `server_name`.
    pub server_name: OwnedServerName,
    /// `public_baseurl` (defaults to `https://{server_name}/`).
    #[serde(default)]
    pub public_baseurl: Option<String>,
    /// `listeners`.
    #[serde(default = "default_listeners")]
    pub listeners: Vec<Listener>,
    /// `database`.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// `media_store_path`.
    #[serde(default = "default_media_store")]
    pub media_store_path: PathBuf,
    /// `max_upload_size`.
    #[serde(default = "default_max_upload", deserialize_with = "byte_size")]
    pub max_upload_size: u64,
    /// `enable_registration`.
    #[serde(default)]
    pub enable_registration: bool,
    /// `registration_shared_secret`: enables `/_synapse/admin/v1/register` (Synapse's
    /// shared-secret registration, used by `mxmod register-user`).
    #[serde(default)]
    pub registration_shared_secret: Option<String>,
    /// `enable_metrics`: serve `/_synapse/metrics`.
    #[serde(default)]
    pub enable_metrics: bool,
    /// `presence`.
    #[serde(default)]
    pub presence: PresenceConfig,
    /// `limits`: connections, read timeouts, the shadow-ban delay (mxmod's own section).
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `rc_message`: events a user sends.
    #[serde(default)]
    pub rc_message: RateLimitConfig,
    /// `rc_registration`: registrations per client address.
    #[serde(default)]
    pub rc_registration: RateLimitConfig,
    /// `rc_login`: `address`, `account`, `failed_attempts`.
    #[serde(default)]
    pub rc_login: LoginRateLimits,
    /// `rc_joins`: `local`.
    #[serde(default)]
    pub rc_joins: JoinRateLimits,
    /// `rc_invites`: `per_room`, `per_user`, `per_issuer`.
    #[serde(default)]
    pub rc_invites: InviteRateLimits,
    /// `rc_media_create`: uploads per user.
    #[serde(default)]
    pub rc_media_create: RateLimitConfig,
    /// `rc_3pid_validation`: validation mails asked for, per client address and per
    /// email address (Synapse's defaults: 0.003/s, burst 5).
    #[serde(default)]
    pub rc_3pid_validation: RateLimitConfig,
    /// `request_token_inhibit_3pid_errors`: a `requestToken` for an address another
    /// account already holds answers as if a mail were sent (after a random wait of 0.1 to
    /// 1 s) instead of 400 `M_THREEPID_IN_USE`, so that it does not tell strangers which
    /// addresses have accounts (Synapse's key; default off).
    #[serde(default)]
    pub request_token_inhibit_3pid_errors: bool,
    /// `email`: the SMTP server the server (and `ModuleApi::send_mail`) sends through;
    /// without it, no mail is sent and email validation is off.
    #[serde(default)]
    pub email: Option<mxmod::mail::EmailConfig>,
    /// `modules`: read by `mxmod::config::load_modules`.
    #[serde(default, rename = "modules")]
    _modules: de::IgnoredAny,
}

/// One `listeners` entry.
#[derive(Debug, Deserialize)]
pub struct Listener {
    /// Port (0 picks a free one; the chosen address is logged).
    pub port: u16,
    /// Addresses to bind.
    #[serde(default = "default_bind")]
    pub bind_addresses: Vec<IpAddr>,
    /// Only `http` is served.
    #[serde(default = "default_type", rename = "type")]
    pub kind: String,
    /// TLS is not supported: put a proxy in front.
    #[serde(default)]
    pub tls: bool,
    /// Synapse's `resources` (all are served on every listener).
    #[serde(default)]
    #[allow(dead_code)]
    resources: de::IgnoredAny,
    /// Synapse's `x_forwarded`: a trusted reverse proxy is in front, so a client's
    /// address is the last entry of `X-Forwarded-For` (the one the proxy appended).
    #[serde(default)]
    pub x_forwarded: bool,
}

impl Listener {
    /// The socket addresses to bind.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.bind_addresses.iter().map(|ip| SocketAddr::new(*ip, self.port)).collect()
    }
}

/// `presence`.
#[derive(Debug, Deserialize)]
pub struct PresenceConfig {
    /// `enabled`.
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

fn yes() -> bool {
    true
}
fn default_listeners() -> Vec<Listener> {
    vec![Listener {
        port: 8008,
        bind_addresses: default_bind(),
        kind: default_type(),
        tls: false,
        resources: de::IgnoredAny,
        x_forwarded: false,
    }]
}
fn default_bind() -> Vec<IpAddr> {
    vec![IpAddr::from([127, 0, 0, 1])]
}
fn default_type() -> String {
    "http".to_owned()
}
fn default_media_store() -> PathBuf {
    PathBuf::from("./mxmod-data/media_store")
}
fn default_max_upload() -> u64 {
    50 * 1024 * 1024
}

/// `50M`, `10K`, `1G` or a number of bytes.
fn byte_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bytes(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Bytes(bytes) => Ok(bytes),
        Raw::Text(text) => parse_byte_size(&text)
            .ok_or_else(|| de::Error::custom(format!("`{text}` is not a size; write e.g. `50M`, `512K` or `1048576`"))),
    }
}

/// Parses `50M`-style sizes.
pub fn parse_byte_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, multiplier) = match text.char_indices().last()? {
        (at, 'K' | 'k') => (&text[..at], 1024),
        (at, 'M' | 'm') => (&text[..at], 1024 * 1024),
        (at, 'G' | 'g') => (&text[..at], 1024 * 1024 * 1024),
        _ => (text, 1),
    };
    number.trim().parse::<u64>().ok()?.checked_mul(multiplier)
}

/// A loaded configuration: the homeserver part, the module entries, and warnings.
#[derive(Debug)]
pub struct Loaded {
    /// The homeserver settings.
    pub homeserver: HomeserverConfig,
    /// The modules, in listed order.
    pub modules: Vec<ModuleEntry>,
    /// Non-fatal findings (unknown top-level keys).
    pub warnings: Vec<String>,
    /// Directory relative paths in the config are resolved against.
    pub base_dir: PathBuf,
    /// The file it was read from (`None` for the embedded default or a text).
    pub source: Option<PathBuf>,
    /// The document's top-level settings other than `modules`, as read: a reload
    /// compares them to tell which changed (those need a restart).
    pub settings: serde_yaml::Mapping,
}

impl Loaded {
    /// Resolves a configured path against the config file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }
}

/// Reads a config file; every problem is listed.
pub fn load_file(path: &Path) -> Result<Loaded, ConfigProblems> {
    let file = path.display().to_string();
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > modconfig::yaml::MAX_DOCUMENT_SIZE as u64 {
        let message = format!(
            "the config file is {size} bytes; at most {} (16 MiB) are read",
            modconfig::yaml::MAX_DOCUMENT_SIZE
        );
        return Err(ConfigProblems { file, problems: vec![ConfigProblem::at("", (1, 1), &message)] });
    }
    let text = std::fs::read_to_string(path).map_err(|error| ConfigProblems {
        file: file.clone(),
        problems: vec![ConfigProblem::unlocated("", &format!("cannot read the config file: {error}"))],
    })?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut loaded = load_text(&text, &file, base_dir)?;
    loaded.source = Some(path.to_path_buf());
    Ok(loaded)
}

/// Reads the embedded default, dropping module entries this binary does not hold.
pub fn load_default() -> Result<Loaded, ConfigProblems> {
    let mut value: serde_yaml::Value = serde_yaml::from_str(DEFAULT_CONFIG).map_err(|error| ConfigProblems {
        file: DEFAULT_CONFIG_NAME.to_owned(),
        problems: vec![ConfigProblem::unlocated("", &error.to_string())],
    })?;
    if let Some(serde_yaml::Value::Sequence(modules)) = value.get_mut("modules") {
        modules.retain(|entry| {
            let name = entry.get("module").and_then(serde_yaml::Value::as_str).unwrap_or_default();
            mxmod::registry::find_module(name).is_some()
        });
    }
    let text = serde_yaml::to_string(&value).unwrap_or_default();
    load_text(&text, DEFAULT_CONFIG_NAME, std::env::current_dir().unwrap_or_default())
}

/// Parses config text; `file` names it in messages.
pub fn load_text(text: &str, file: &str, base_dir: PathBuf) -> Result<Loaded, ConfigProblems> {
    modconfig::yaml::precheck(text)
        .map_err(|problem| ConfigProblems { file: file.to_owned(), problems: vec![problem] })?;
    let mut problems = Vec::new();
    let mut unknown = Vec::new();
    let homeserver = {
        let deserializer = serde_yaml::Deserializer::from_str(text);
        serde_ignored::deserialize::<_, _, HomeserverConfig>(deserializer, |path| unknown.push(path.to_string())).ok()
    };
    // A typed parse with key paths and positions, for the error message.
    let homeserver = match homeserver {
        Some(config) => Some(config),
        None => match modconfig::yaml::parse::<HomeserverConfig>(text) {
            Ok(config) => Some(config),
            Err(problem) => {
                problems.push(problem);
                None
            }
        },
    };
    if let Some(config) = &homeserver {
        problems.extend(validate(config, text));
    }
    let modules = match modconfig::load_modules(text, file) {
        Ok(modules) => modules,
        Err(found) => {
            // A syntax error is found by both parses; list it once.
            for problem in found.problems {
                if !problems.contains(&problem) {
                    problems.push(problem);
                }
            }
            Vec::new()
        }
    };
    match homeserver {
        Some(homeserver) if problems.is_empty() => {
            let warnings = unknown
                .into_iter()
                .filter(|key| !read_elsewhere(key))
                .map(|key| {
                    format!("{file}: unknown key `{key}` is ignored (mxmod implements a subset of Synapse's options)")
                })
                .collect();
            let mut settings = match serde_yaml::from_str(text) {
                Ok(serde_yaml::Value::Mapping(settings)) => settings,
                _ => serde_yaml::Mapping::new(),
            };
            settings.remove("modules");
            Ok(Loaded { homeserver, modules, warnings, base_dir, source: None, settings })
        }
        _ => Err(ConfigProblems { file: file.to_owned(), problems }),
    }
}

/// Keys deserialized as "ignored" on purpose: read by the module loader, or Synapse
/// listener options every mxmod listener honours implicitly.
fn read_elsewhere(key: &str) -> bool {
    key == "modules" || key.starts_with("modules.") || (key.starts_with("listeners.") && key.ends_with(".resources"))
}

fn validate(config: &HomeserverConfig, text: &str) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    problems.extend(config.database.problems(text));
    for (n, listener) in config.listeners.iter().enumerate() {
        if listener.kind != "http" {
            problems.push(ConfigProblem::located(
                text,
                &format!("listeners[{n}].type"),
                &format!("listener type `{}` is not supported; use `http`", listener.kind),
            ));
        }
        if listener.tls {
            problems.push(ConfigProblem::located(
                text,
                &format!("listeners[{n}].tls"),
                "TLS is not supported; terminate TLS in a reverse proxy",
            ));
        }
    }
    problems.extend(rate_limits::problems(config, text));
    if let Some(email) = &config.email {
        for (key, message) in email.problems() {
            problems.push(ConfigProblem::located(text, &format!("email.{key}"), &message));
        }
    }
    if config.listeners.is_empty() {
        problems.push(ConfigProblem::located(text, "listeners", "at least one `http` listener is required"));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_byte_size("50M"), Some(50 * 1024 * 1024));
        assert_eq!(parse_byte_size("512k"), Some(512 * 1024));
        assert_eq!(parse_byte_size("1000"), Some(1000));
        assert_eq!(parse_byte_size("lots"), None);
    }

    #[test]
    fn the_embedded_default_loads() {
        let loaded = load_default().unwrap();
        assert_eq!(loaded.homeserver.server_name.as_str(), "localhost");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn unknown_top_level_keys_are_warnings() {
        let loaded = load_text("server_name: a.b\nreport_stats: false\n", "hs.yaml", PathBuf::new()).unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains("report_stats"));
    }

    #[test]
    fn the_email_section_reads_synapses_keys() {
        let text = "server_name: a.b\nemail:\n  smtp_host: mail.a.b\n  smtp_port: 587\n  smtp_user: u\n  \
                    smtp_pass: p\n  require_transport_security: true\n  notif_from: '%(app)s <n@a.b>'\n  \
                    app_name: Acme\n";
        let loaded = load_text(text, "hs.yaml", PathBuf::new()).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let email = loaded.homeserver.email.unwrap();
        assert_eq!((email.smtp_host.as_str(), email.port(), email.app_name.as_str()), ("mail.a.b", 587, "Acme"));
        assert!(email.require_transport_security && email.enable_tls && !email.force_tls);
        assert_eq!(email.sender().unwrap().to_string(), "Acme <n@a.b>");
        assert!(load_text("server_name: a.b\n", "hs.yaml", PathBuf::new()).unwrap().homeserver.email.is_none());
    }

    #[test]
    fn email_problems_are_located() {
        let unknown = "server_name: a.b\nemail:\n  notif_from: n@a.b\n  smtp_hots: x\n";
        let shown = load_text(unknown, "hs.yaml", PathBuf::new()).unwrap_err().to_string();
        assert!(shown.contains("hs.yaml:4:") && shown.contains("smtp_hots"), "{shown}");
        let bad = "server_name: a.b\nemail:\n  smtp_host: h\n  enable_tls: false\n  force_tls: true\n";
        let shown = load_text(bad, "hs.yaml", PathBuf::new()).unwrap_err().to_string();
        assert!(shown.contains("`notif_from` is required"), "{shown}");
        assert!(shown.contains("hs.yaml:5:") && shown.contains("`force_tls` requires `enable_tls`"), "{shown}");
    }

    #[test]
    fn every_problem_is_listed_with_its_position() {
        let text = "server_name: a.b\nmax_upload_size: lots\nmodules:\n  - module: nope\n";
        let problems = load_text(text, "hs.yaml", PathBuf::new()).unwrap_err();
        let shown = problems.to_string();
        assert!(shown.contains("hs.yaml:2:"), "{shown}");
        assert!(shown.contains("hs.yaml:4:"), "{shown}");
        assert!(shown.contains("module `nope` is not compiled into this binary"), "{shown}");
    }
}
