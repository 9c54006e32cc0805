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

use std::{any::Any, fmt, marker::PhantomData, time::Duration};

use serde::{
    de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor},
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
    /// Its typed config.
    pub config: ParsedConfig,
    /// `on_error: allow | deny`, overriding Synapse's per-callback failure policy.
    pub on_error: Option<OnError>,
    /// `timeout:` for each of its callback calls (`500ms`, `5s`, or a number of milliseconds).
    pub timeout: Option<Duration>,
}

/// Reads the `modules:` list of a YAML document; other top-level keys are left to the
/// caller. Every problem of every entry is reported, not just the first.
pub fn load_modules(document: &str, file: &str) -> Result<Vec<ModuleEntry>, ConfigProblems> {
    let fail = |problems: Vec<ConfigProblem>| ConfigProblems { file: file.to_owned(), problems };
    let count = count_entries(document).map_err(|problem| fail(vec![problem]))?;
    let mut entries = Vec::with_capacity(count);
    let mut problems = Vec::new();
    for index in 0..count {
        match load_entry(document, index) {
            Ok(entry) => entries.push(entry),
            Err(mut found) => problems.append(&mut found),
        }
    }
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(fail(problems))
    }
}

fn count_entries(document: &str) -> Result<usize, ConfigProblem> {
    let value: serde_yaml::Value = yaml::parse(document)?;
    match value.get("modules") {
        None | Some(serde_yaml::Value::Null) => Ok(0),
        Some(serde_yaml::Value::Sequence(list)) => Ok(list.len()),
        Some(_) => {
            Err(ConfigProblem::located(document, "modules", "`modules` must be a list of `- module: NAME` entries"))
        }
    }
}

fn load_entry(document: &str, index: usize) -> Result<ModuleEntry, Vec<ConfigProblem>> {
    let head: EntryHead = deserialize_entry(document, index, PhantomData).map_err(|problem| vec![problem])?;
    let descriptor = head.module.0;
    let config = (descriptor.parse_config)(document, index)?;
    Ok(ModuleEntry { index, descriptor, config, on_error: head.on_error, timeout: head.timeout.map(|t| t.0) })
}

/// Everything of an entry but its `config`, which the module's own type reads.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryHead {
    module: KnownModule,
    #[serde(default)]
    #[allow(dead_code)]
    config: IgnoredAny,
    #[serde(default)]
    on_error: Option<OnError>,
    #[serde(default)]
    timeout: Option<Timeout>,
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
pub fn parse_module_config<M: crate::Module>(document: &str, index: usize) -> Result<ParsedConfig, Vec<ConfigProblem>> {
    let base = format!("modules[{index}].config");
    let mut ignored = Vec::new();
    let parsed =
        deserialize_entry(document, index, ConfigOnly::<M::Config> { ignored: &mut ignored, marker: PhantomData })
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

/// Deserializes `modules[index]` of the document with `seed`, ignoring everything else.
fn deserialize_entry<'de, S>(document: &'de str, index: usize, seed: S) -> Result<S::Value, ConfigProblem>
where
    S: DeserializeSeed<'de>,
{
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_yaml::Deserializer::from_str(document);
    let found =
        DocumentSeed { index, seed }.deserialize(serde_path_to_error::Deserializer::new(deserializer, &mut track));
    match found {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(ConfigProblem::unlocated(&format!("modules[{index}]"), "entry not found")),
        Err(error) => Err(ConfigProblem::from_yaml(document, &track.path(), &error)),
    }
}

struct DocumentSeed<S> {
    index: usize,
    seed: S,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for DocumentSeed<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for DocumentSeed<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping of configuration keys")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seed = Some(self.seed);
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            match (key.as_str(), seed.take()) {
                ("modules", Some(inner)) => found = map.next_value_seed(ListSeed { index: self.index, seed: inner })?,
                (_, unused) => {
                    seed = unused;
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

struct ListSeed<S> {
    index: usize,
    seed: S,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for ListSeed<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for ListSeed<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of `- module: NAME` entries")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut seed = Some(self.seed);
        let mut found = None;
        let mut position = 0;
        loop {
            if position == self.index {
                if let Some(inner) = seed.take() {
                    match seq.next_element_seed(inner)? {
                        Some(value) => found = Some(value),
                        None => break,
                    }
                    position += 1;
                    continue;
                }
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            position += 1;
        }
        Ok(found)
    }
}

/// Reads only an entry's `config`, as `T`, recording keys `T` does not know.
struct ConfigOnly<'a, T> {
    ignored: &'a mut Vec<String>,
    marker: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for ConfigOnly<'_, T> {
    type Value = Option<T>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for ConfigOnly<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a module entry: `module`, `config`, `on_error`, `timeout`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut config = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "config" {
                config =
                    Some(map.next_value_seed(TrackIgnored::<T> { ignored: &mut *self.ignored, marker: PhantomData })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(config)
    }
}

struct TrackIgnored<'a, T> {
    ignored: &'a mut Vec<String>,
    marker: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for TrackIgnored<'_, T> {
    type Value = T;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        serde_ignored::deserialize(deserializer, |path| self.ignored.push(path.to_string()))
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
    fn syntax_errors_are_located() {
        let problems = load_modules("modules:\n  - module: [x\n", "hs.yaml").unwrap_err();
        assert!(problems.problems[0].line.is_some(), "{problems}");
    }
}
