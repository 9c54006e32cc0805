//! The one YAML loader: the `modules:` list of a `homeserver.yaml`, each entry's `config`
//! deserialized straight from the document into the named module's type, so every
//! problem carries its key path (`modules[2].config.evil_users[1]`) and line:column.
//!
//! serde_yaml is read only here (and in [`yaml`]); swapping it for serde_yaml_ng is a
//! change to this module alone.

mod duration;
mod locate;
mod problem;
pub mod yaml;

use std::{any::Any, fmt, time::Duration};

use serde::{
    de::{self, DeserializeOwned, IgnoredAny},
    Deserialize,
};

pub use self::{
    duration::{parse_duration, ConfigDuration},
    problem::{ConfigProblem, ConfigProblems},
};
use crate::{callbacks::hook::OnError, module::ModuleDescriptor, registry};

/// A module config, parsed and validated, waiting for its module's construction.
pub struct ParsedConfig(pub(crate) Box<dyn Any + Send>);

impl fmt::Debug for ParsedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ParsedConfig(..)")
    }
}

/// One entry of the `modules:` list, ready to be instantiated.
#[derive(Debug)]
pub struct ModuleEntry {
    /// Position in the list (0-based).
    pub index: usize,
    /// The compiled-in module it names.
    pub descriptor: &'static ModuleDescriptor,
    /// Its stable instance id: `id:`, by default the module name (lowercased, other
    /// characters than letters, digits and `_` as `_`). Its database tables are named
    /// after it, so they survive reordering the list.
    pub id: String,
    /// Its typed config.
    pub config: ParsedConfig,
    /// `on_error: allow | deny`, overriding Synapse's per-callback failure policy.
    pub on_error: Option<OnError>,
    /// `timeout:` for each of its callback calls (`500ms`, `5s`, or a number of milliseconds).
    pub timeout: Option<Duration>,
}

/// A config document parsed once: its text (for positions in messages) and the
/// entries of its `modules:` list, which each module's config parser reads from.
pub struct ConfigSource<'a> {
    document: &'a str,
    entries: Vec<serde_yaml::Value>,
}

impl ConfigSource<'_> {
    /// Deserializes entry `index` (or a part of it, picked by `part`) as `T`; a problem
    /// carries `modules[index]...` and line:column.
    fn entry<T: DeserializeOwned>(
        &self,
        index: usize,
        part: Option<&str>,
        on_unknown: &mut dyn FnMut(String),
    ) -> Result<Option<T>, ConfigProblem> {
        let Some(entry) = self.entries.get(index) else {
            return Err(ConfigProblem::unlocated(&format!("modules[{index}]"), "entry not found"));
        };
        let (value, base) = match part {
            None => (entry, format!("modules[{index}]")),
            Some(key) => match entry.get(key) {
                Some(value) => (value, format!("modules[{index}].{key}")),
                None => return Ok(None),
            },
        };
        let mut track = serde_path_to_error::Track::new();
        let deserializer = serde_path_to_error::Deserializer::new(value, &mut track);
        serde_ignored::deserialize(deserializer, |path| on_unknown(path.to_string())).map(Some).map_err(|error| {
            let inner = yaml::render_path(&track.path());
            let path = if inner.is_empty() { base.clone() } else { format!("{base}.{inner}") };
            ConfigProblem::located(self.document, &path, &yaml::message(&error))
        })
    }
}

/// Reads the `modules:` list of a YAML document; other top-level keys are left to the
/// caller. Every problem of every entry is reported, not just the first. The document
/// is parsed once, so loading is linear in its size.
pub fn load_modules(document: &str, file: &str) -> Result<Vec<ModuleEntry>, ConfigProblems> {
    let fail = |problems: Vec<ConfigProblem>| ConfigProblems { file: file.to_owned(), problems };
    let source = ConfigSource { document, entries: module_entries(document).map_err(|problem| fail(vec![problem]))? };
    let mut entries = Vec::with_capacity(source.entries.len());
    let mut problems = Vec::new();
    for index in 0..source.entries.len() {
        match load_entry(&source, index) {
            Ok(entry) => entries.push(entry),
            Err(mut found) => problems.append(&mut found),
        }
    }
    problems.extend(duplicate_ids(&source, &entries));
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(fail(problems))
    }
}

fn module_entries(document: &str) -> Result<Vec<serde_yaml::Value>, ConfigProblem> {
    let value: serde_yaml::Value = yaml::parse(document)?;
    let modules = match value {
        serde_yaml::Value::Mapping(mut top) => top.remove("modules"),
        _ => None,
    };
    match modules {
        None | Some(serde_yaml::Value::Null) => Ok(Vec::new()),
        Some(serde_yaml::Value::Sequence(list)) => Ok(list),
        Some(_) => {
            Err(ConfigProblem::located(document, "modules", "`modules` must be a list of `- module: NAME` entries"))
        }
    }
}

fn load_entry(source: &ConfigSource<'_>, index: usize) -> Result<ModuleEntry, Vec<ConfigProblem>> {
    let head: EntryHead = source
        .entry(index, None, &mut |_| {})
        .and_then(|head| head.ok_or_else(|| ConfigProblem::unlocated(&format!("modules[{index}]"), "entry not found")))
        .map_err(|problem| vec![problem])?;
    let descriptor = head.module.0;
    let id = match head.id {
        Some(id) => id.0,
        None => default_instance_id(descriptor.name).map_err(|message| {
            vec![ConfigProblem::located(source.document, &format!("modules[{index}].module"), &message)]
        })?,
    };
    let config = (descriptor.parse_config)(source, index)?;
    Ok(ModuleEntry { index, descriptor, id, config, on_error: head.on_error, timeout: head.timeout.map(|t| t.0) })
}

/// The longest instance id: table names `mod_<id>__<name>` must fit PostgreSQL's 63 bytes.
const MAX_INSTANCE_ID: usize = 32;

/// The id of an entry without `id:`: its module name, lowercased, with characters other
/// than letters, digits and `_` as `_`.
fn default_instance_id(module: &str) -> Result<String, String> {
    let id: String =
        module.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if id.len() > MAX_INSTANCE_ID {
        return Err(format!(
            "module name `{module}` is too long to name its tables; give the entry an `id:` of at most \
             {MAX_INSTANCE_ID} lowercase letters, digits and `_`"
        ));
    }
    Ok(id)
}

/// One problem per entry whose id an earlier entry already has.
fn duplicate_ids(source: &ConfigSource<'_>, entries: &[ModuleEntry]) -> Vec<ConfigProblem> {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut problems = Vec::new();
    for entry in entries {
        let Some(&first) = seen.get(entry.id.as_str()) else {
            seen.insert(&entry.id, entry.index);
            continue;
        };
        let explicit = source.entries.get(entry.index).and_then(|e| e.get("id")).is_some();
        let path = format!("modules[{}].{}", entry.index, if explicit { "id" } else { "module" });
        let message = format!(
            "modules[{first}] already has the instance id `{}`; give each entry of a module listed more than once a \
             distinct `id:` (its database tables are named after it, e.g. `id: {}_2`)",
            entry.id, entry.id
        );
        problems.push(ConfigProblem::located(source.document, &path, &message));
    }
    problems
}

/// Everything of an entry but its `config`, which the module's own type reads.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryHead {
    module: KnownModule,
    #[serde(default)]
    id: Option<InstanceId>,
    #[serde(default)]
    #[allow(dead_code)]
    config: IgnoredAny,
    #[serde(default)]
    on_error: Option<OnError>,
    #[serde(default)]
    timeout: Option<Timeout>,
}

/// An entry's `id:`: 1 to 32 lowercase ASCII letters, digits and `_`.
struct InstanceId(String);

impl<'de> Deserialize<'de> for InstanceId {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        let valid = (1..=MAX_INSTANCE_ID).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(de::Error::custom(format!(
                "`id` names the instance's database tables: 1 to {MAX_INSTANCE_ID} lowercase letters, digits and \
                 `_`, not `{id}`"
            )));
        }
        Ok(InstanceId(id))
    }
}

/// A module name that is compiled into this binary.
struct KnownModule(&'static ModuleDescriptor);

impl<'de> Deserialize<'de> for KnownModule {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        match registry::find_module(&name) {
            Some(descriptor) => Ok(KnownModule(descriptor)),
            None => Err(de::Error::custom(unknown_module_message(&name))),
        }
    }
}

/// The message for a `module:` name that is not compiled in: what is, and how to add it.
pub fn unknown_module_message(name: &str) -> String {
    let mut known: Vec<String> =
        registry::compiled_in().iter().map(|d| format!("`{}` (crate {})", d.name, d.crate_name)).collect();
    known.sort();
    let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
    format!(
        "module `{name}` is not compiled into this binary; compiled in: {known}. \
         Modules shipped with mxmod are cargo features: rebuild with `cargo build -p mxmod-app --features {name}` \
         (or `cargo xtask build --modules ...`), or fix the name"
    )
}

/// A callback timeout: a positive [`ConfigDuration`] (`500` or `500ms`, `5s`, `1m`).
struct Timeout(Duration);

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let duration = ConfigDuration::deserialize(deserializer)?;
        if duration.is_zero() {
            return Err(de::Error::custom("`timeout` must be longer than zero, such as `500ms`, `5s` or `1m`"));
        }
        Ok(Timeout(duration.as_duration()))
    }
}

/// The typed-config half of an entry, for module `M`: called through
/// [`ModuleDescriptor::parse_config`].
pub fn parse_module_config<M: crate::Module>(
    source: &ConfigSource<'_>,
    index: usize,
) -> Result<ParsedConfig, Vec<ConfigProblem>> {
    let document = source.document;
    let base = format!("modules[{index}].config");
    let mut ignored = Vec::new();
    let parsed = source
        .entry::<M::Config>(index, Some("config"), &mut |key| ignored.push(key))
        .map_err(|problem| vec![problem])?;
    let config = match parsed {
        Some(config) => config,
        None => {
            serde_yaml::from_value::<M::Config>(serde_yaml::Value::Mapping(Default::default())).map_err(|error| {
                vec![ConfigProblem::located(
                    document,
                    &base,
                    &format!("`config` is required here: {}", yaml::message(&error)),
                )]
            })?
        }
    };
    if !ignored.is_empty() {
        return Err(ignored
            .iter()
            .map(|key| {
                ConfigProblem::located(
                    document,
                    &format!("{base}.{key}"),
                    &format!("unknown key `{key}`; remove it or check its spelling against the module's documentation"),
                )
            })
            .collect());
    }
    match M::parse_config(config) {
        Ok(config) => Ok(ParsedConfig(Box::new(config))),
        Err(error) => {
            let mut path = base;
            for part in &error.path {
                if part.parse::<usize>().is_ok() {
                    path.push_str(&format!("[{part}]"));
                } else {
                    path.push('.');
                    path.push_str(part);
                }
            }
            Err(vec![ConfigProblem::located(document, &path, &error.message)])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_modules_list_is_no_modules() {
        assert_eq!(load_modules("server_name: a\n", "x.yaml").unwrap().len(), 0);
        assert_eq!(load_modules("modules:\n", "x.yaml").unwrap().len(), 0);
    }

    #[test]
    fn a_non_list_modules_key_is_located() {
        let problems = load_modules("server_name: a\nmodules: 3\n", "x.yaml").unwrap_err();
        let text = problems.to_string();
        assert!(text.contains("x.yaml:2:1: modules: `modules` must be a list"), "{text}");
    }

    #[test]
    fn an_unknown_module_lists_what_is_compiled_in() {
        let problems = load_modules("modules:\n  - module: no_such_module\n", "hs.yaml").unwrap_err();
        let text = problems.to_string();
        assert!(text.contains("hs.yaml:2:"), "{text}");
        assert!(text.contains("modules[0].module"), "{text}");
        assert!(text.contains("module `no_such_module` is not compiled into this binary"), "{text}");
        assert!(text.contains("--features no_such_module"), "{text}");
    }

    #[test]
    fn default_instance_ids_are_table_name_safe() {
        assert_eq!(default_instance_id("Acme.spam-Filter").unwrap(), "acme_spam_filter");
        assert!(default_instance_id(&"x".repeat(33)).is_err());
    }

    #[test]
    fn syntax_errors_are_located() {
        let problems = load_modules("modules:\n  - module: [x\n", "hs.yaml").unwrap_err();
        assert!(problems.problems[0].line.is_some(), "{problems}");
    }
}
