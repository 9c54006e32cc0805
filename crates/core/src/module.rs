//! The module lifecycle: a typed config, optional validation, construction with a
//! [`ModuleApi`]; and the descriptor `#[module]` puts in the link-time slice.

use std::{any::Any, sync::Arc};

use serde::de::DeserializeOwned;

use crate::{
    api::ModuleApi,
    callbacks::hook::ModuleObject,
    config::{ConfigProblem, ParsedConfig},
    error::{ConfigError, ModuleError},
};

/// A module: its config type and how it is built. Synapse's `__init__(config, api)` and
/// `parse_config(config)`.
///
/// Callbacks live in a separate `impl` block marked `#[module(name = "...")]`.
pub trait Module: Sized + Send + Sync + 'static {
    /// The module's `config:` section. Unknown keys are rejected by the loader.
    type Config: DeserializeOwned + Send + 'static;

    /// Validation after deserialization (Synapse's `parse_config`). Errors name the key
    /// path below `config` through [`ConfigError::at`].
    fn parse_config(config: Self::Config) -> Result<Self::Config, ConfigError> {
        Ok(config)
    }

    /// Builds the instance, in YAML order, before any listener starts. Register computed
    /// web resources here through [`ModuleApi::register_web_resource`].
    fn new(config: Self::Config, api: ModuleApi) -> Result<Self, ModuleError>;
}

/// Parses entry `index` of the document's `modules:` list into this module's config.
pub type ParseConfigFn =
    fn(source: &crate::config::ConfigSource<'_>, index: usize) -> Result<ParsedConfig, Vec<ConfigProblem>>;

/// Builds an instance from a parsed config.
pub type InstantiateFn = fn(Box<dyn Any + Send>, ModuleApi) -> Result<Arc<ModuleObject>, ModuleError>;

/// One compiled-in module, as `#[module]` records it in [`MXMOD_MODULES`](crate::registry::MXMOD_MODULES).
#[derive(Debug)]
pub struct ModuleDescriptor {
    /// The name operators write after `module:`.
    pub name: &'static str,
    /// The crate (package) the module was compiled in.
    pub crate_name: &'static str,
    /// The Rust type.
    pub type_name: &'static str,
    /// Source file of the `#[module]` attribute.
    pub file: &'static str,
    /// Source line of the `#[module]` attribute.
    pub line: u32,
    /// Typed config parsing.
    #[doc(hidden)]
    pub parse_config: ParseConfigFn,
    /// Construction.
    #[doc(hidden)]
    pub instantiate: InstantiateFn,
}

impl ModuleDescriptor {
    /// `file:line` of the declaration.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}
