//! `cargo xtask list`: the modules in `crates/modules`, read from their source with `syn`
//! (no build): each `#[module(name = ...)]` impl, its cargo feature, the categories of its
//! methods and its web paths.

use std::path::{Path, PathBuf};

use syn::{Attribute, ImplItem, Item};

use crate::{
    new_module::Category,
    workspace::{self, Workspace},
    Error, Result,
};

/// One `#[module]` impl found in a source file.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ScannedModule {
    /// The `#[module(name = "...")]`.
    pub(crate) name: String,
    /// `(category, method)` for every callback method.
    pub(crate) callbacks: Vec<(Category, String)>,
    /// `#[web_resource("...")]` paths.
    pub(crate) web_paths: Vec<String>,
    /// `#[cached]` methods.
    pub(crate) caches: Vec<String>,
}

impl ScannedModule {
    /// The categories of the module's methods, in canonical order.
    pub(crate) fn categories(&self) -> Vec<Category> {
        let mut categories: Vec<Category> = self.callbacks.iter().map(|(category, _)| *category).collect();
        if !self.web_paths.is_empty() {
            categories.push(Category::WEB_RESOURCE);
        }
        if !self.caches.is_empty() {
            categories.push(Category::CACHED);
        }
        categories.sort();
        categories.dedup();
        categories
    }
}

/// How `crates/modules/src/lib.rs` declares a module file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gate {
    /// `#[cfg(feature = "X")] mod ...;`
    Feature(String),
    /// `mod ...;` with no feature.
    Always,
    /// Not declared: the file is not compiled.
    Undeclared,
}

impl Gate {
    fn feature(&self) -> Option<&str> {
        match self {
            Gate::Feature(feature) => Some(feature),
            _ => None,
        }
    }
}

/// A module of `crates/modules` with where it lives.
#[derive(Debug)]
pub(crate) struct ModuleEntry {
    /// What the source declares.
    pub(crate) module: ScannedModule,
    /// How its file is compiled in.
    pub(crate) gate: Gate,
    /// Its file, relative to the workspace root.
    pub(crate) file: String,
}

pub(crate) fn run(workspace: &Workspace) -> Result<()> {
    let entries = collect(workspace)?;
    let manifest = workspace::read(&workspace.modules_manifest())?;
    let features = workspace::module_features(&manifest)?;
    let defaults = workspace::default_features(&manifest);
    print!("{}", render(&entries, &features, &defaults));
    Ok(())
}

/// Every module in `crates/modules/src`, sorted by name.
pub(crate) fn collect(workspace: &Workspace) -> Result<Vec<ModuleEntry>> {
    let src = workspace.modules_src();
    let gates = feature_gates(&workspace::read(&src.join("lib.rs"))?)?;
    let mut files = Vec::new();
    rust_files(&src, &mut files)?;
    files.sort();
    let mut entries = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap_or(&file);
        let top_module = relative
            .components()
            .next()
            .map(|c| Path::new(c.as_os_str()).file_stem().unwrap_or_default().to_string_lossy().into_owned())
            .unwrap_or_default();
        let gate = match gates.iter().find(|(module, _)| *module == top_module) {
            Some((_, Some(feature))) => Gate::Feature(feature.clone()),
            Some((_, None)) => Gate::Always,
            None => Gate::Undeclared,
        };
        let source = workspace::read(&file)?;
        let modules =
            scan_source(&source).map_err(|e| Error::new(format!("cannot parse {}: {e}", workspace.relative(&file))))?;
        for module in modules {
            entries.push(ModuleEntry { module, gate: gate.clone(), file: workspace.relative(&file) });
        }
    }
    entries.sort_by(|a, b| a.module.name.cmp(&b.module.name));
    Ok(entries)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let listing = std::fs::read_dir(dir).map_err(|e| Error::new(format!("cannot list {}: {e}", dir.display())))?;
    for entry in listing {
        let path = entry.map_err(|e| Error::new(format!("cannot list {}: {e}", dir.display())))?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `(module, feature)` for each `mod module;` of a `lib.rs` but `#[cfg(test)]` ones, with
/// the feature of its `#[cfg(feature = "...")]` if it has one.
pub(crate) fn feature_gates(lib_rs: &str) -> Result<Vec<(String, Option<String>)>> {
    let file =
        syn::parse_file(lib_rs).map_err(|e| Error::new(format!("cannot parse crates/modules/src/lib.rs: {e}")))?;
    Ok(file
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Mod(module) if !is_cfg_test(&module.attrs) => {
                Some((module.ident.to_string(), cfg_feature(&module.attrs)))
            }
            _ => None,
        })
        .collect())
}

/// The `X` of a `#[cfg(feature = "X")]` among `attrs`.
fn cfg_feature(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().filter(|attr| attr.path().is_ident("cfg")).find_map(|attr| {
        let meta: syn::MetaNameValue = attr.parse_args().ok()?;
        if !meta.path.is_ident("feature") {
            return None;
        }
        match meta.value {
            syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(feature), .. }) => Some(feature.value()),
            _ => None,
        }
    })
}

/// Whether `attrs` hold `#[cfg(test)]`.
fn is_cfg_test(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .any(|attr| attr.path().is_ident("cfg") && attr.parse_args::<syn::Ident>().is_ok_and(|ident| ident == "test"))
}

/// The last segment of an attribute's path (`mxmod::module` → `module`).
fn attr_name(attr: &Attribute) -> Option<String> {
    attr.path().segments.last().map(|segment| segment.ident.to_string())
}

/// The `#[module]` impls of a source file (test modules skipped).
pub(crate) fn scan_source(source: &str) -> Result<Vec<ScannedModule>, syn::Error> {
    let file = syn::parse_file(source)?;
    let mut found = Vec::new();
    scan_items(&file.items, &mut found);
    Ok(found)
}

fn scan_items(items: &[Item], found: &mut Vec<ScannedModule>) {
    for item in items {
        match item {
            Item::Mod(module) if !is_cfg_test(&module.attrs) => {
                if let Some((_, items)) = &module.content {
                    scan_items(items, found);
                }
            }
            Item::Impl(block) => {
                let Some(name) = block.attrs.iter().find_map(module_name) else { continue };
                let mut module = ScannedModule { name, ..ScannedModule::default() };
                for item in &block.items {
                    let ImplItem::Fn(method) = item else { continue };
                    let method_name = method.sig.ident.to_string();
                    for attr in &method.attrs {
                        match attr_name(attr).as_deref().and_then(Category::parse_attribute) {
                            Some(Category::WEB_RESOURCE) => {
                                // `("/path")` or `("/path", method = "GET")`: the path is first.
                                let first = attr.parse_args_with(|input: syn::parse::ParseStream<'_>| {
                                    let path: syn::LitStr = input.parse()?;
                                    input.parse::<proc_macro2::TokenStream>()?;
                                    Ok(path)
                                });
                                if let Ok(path) = first {
                                    module.web_paths.push(path.value());
                                }
                            }
                            Some(Category::CACHED) => module.caches.push(method_name.clone()),
                            Some(category) => module.callbacks.push((category, method_name.clone())),
                            None => {}
                        }
                    }
                }
                found.push(module);
            }
            _ => {}
        }
    }
}

/// The `name` of a `#[module(name = "...")]` attribute.
fn module_name(attr: &Attribute) -> Option<String> {
    if attr_name(attr).as_deref() != Some("module") {
        return None;
    }
    let mut name = None;
    let _ = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse::<syn::LitStr>()?.value());
        } else if meta.input.peek(syn::Token![=]) {
            let _: syn::Expr = meta.value()?.parse()?;
        }
        Ok(())
    });
    name
}

/// The listing: one block per module, then features that declare no module.
pub(crate) fn render(entries: &[ModuleEntry], features: &[String], defaults: &[String]) -> String {
    let mut out = String::new();
    for entry in entries {
        let module = &entry.module;
        let feature = match &entry.gate {
            Gate::Feature(feature) if defaults.contains(feature) => format!("feature `{feature}`, in the default set"),
            Gate::Feature(feature) => format!("feature `{feature}`"),
            Gate::Always => "no feature: always compiled".to_owned(),
            Gate::Undeclared => "not declared in crates/modules/src/lib.rs: not compiled".to_owned(),
        };
        out.push_str(&format!("{} ({feature}) {}\n", module.name, entry.file));
        let categories: Vec<&str> = module.categories().iter().map(|category| category.as_str()).collect();
        out.push_str(&format!("    categories  {}\n", dash_if_empty(&categories.join(", "))));
        let callbacks: Vec<String> =
            module.callbacks.iter().map(|(category, method)| format!("{}.{method}", category.as_str())).collect();
        out.push_str(&format!("    callbacks   {}\n", dash_if_empty(&callbacks.join(", "))));
        out.push_str(&format!("    web paths   {}\n", dash_if_empty(&module.web_paths.join(", "))));
        out.push_str(&format!("    caches      {}\n", dash_if_empty(&module.caches.join(", "))));
    }
    for feature in features {
        if !entries.iter().any(|entry| entry.gate.feature() == Some(feature)) {
            out.push_str(&format!("feature `{feature}`: no `#[module]` impl found in crates/modules/src\n"));
        }
    }
    if entries.is_empty() {
        out.push_str("no modules in crates/modules\n");
    }
    out
}

fn dash_if_empty(text: &str) -> &str {
    if text.is_empty() {
        "-"
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"
use mxmod::{module, spam_checker, web_resource};

pub struct Demo;

#[module(name = "demo")]
impl Demo {
    #[spam_checker]
    pub async fn user_may_create_room(&self) {}

    #[mxmod::web_resource("/_synapse/client/demo/hello", method = "GET")]
    pub async fn hello(&self, request: WebRequest) -> WebResponse { web::json(200, &()) }

    #[cached(max_size = 10)]
    pub async fn lookup(&self, key: String) -> String { key }

    #[presence_router]
    pub async fn get_users_for_states(&self) {}

    /// Not a callback.
    fn helper(&self) {}
}

impl Demo {
    #[spam_checker]
    fn not_a_module(&self) {}
}

#[cfg(test)]
mod tests {
    #[module(name = "only_in_tests")]
    impl Fixture {}
}
"#;

    #[test]
    fn module_impls_and_their_methods_are_found() {
        let modules = scan_source(SOURCE).unwrap();
        assert_eq!(modules.len(), 1, "{modules:?}");
        let demo = &modules[0];
        assert_eq!(demo.name, "demo");
        assert_eq!(
            demo.callbacks,
            [
                (Category::named("spam_checker"), "user_may_create_room".to_owned()),
                (Category::named("presence_router"), "get_users_for_states".to_owned())
            ]
        );
        assert_eq!(demo.web_paths, ["/_synapse/client/demo/hello"]);
        assert_eq!(demo.caches, ["lookup"]);
        assert_eq!(
            demo.categories(),
            [
                Category::named("spam_checker"),
                Category::named("presence_router"),
                Category::WEB_RESOURCE,
                Category::CACHED
            ]
        );
    }

    #[test]
    fn a_syntax_error_is_reported() {
        assert!(scan_source("impl {").is_err());
    }

    #[test]
    fn features_gate_top_level_modules() {
        let lib = "#[cfg(feature = \"demo\")]\npub mod demo;\n#[cfg(test)]\nmod test_http;\npub mod always;\n";
        assert_eq!(
            feature_gates(lib).unwrap(),
            [("demo".to_owned(), Some("demo".to_owned())), ("always".to_owned(), None)]
        );
    }

    #[test]
    fn the_listing_shows_feature_categories_and_paths() {
        let entries = vec![ModuleEntry {
            module: scan_source(SOURCE).unwrap().remove(0),
            gate: Gate::Feature("demo".to_owned()),
            file: "crates/modules/src/demo.rs".to_owned(),
        }];
        let text = render(&entries, &["demo".to_owned(), "ghost".to_owned()], &["demo".to_owned()]);
        assert_eq!(
            text,
            "demo (feature `demo`, in the default set) crates/modules/src/demo.rs
    categories  spam_checker, presence_router, web_resource, cached
    callbacks   spam_checker.user_may_create_room, presence_router.get_users_for_states
    web paths   /_synapse/client/demo/hello
    caches      lookup
feature `ghost`: no `#[module]` impl found in crates/modules/src
"
        );
    }

    #[test]
    fn every_shipped_module_is_listed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
        let workspace = Workspace { root };
        let entries = collect(&workspace).unwrap();
        let known = workspace.known_modules().unwrap();
        for feature in &known {
            assert!(
                entries.iter().any(|entry| entry.gate.feature() == Some(feature) && &entry.module.name == feature),
                "feature `{feature}` has no module named after it: {entries:?}"
            );
        }
        let demo = entries.iter().find(|entry| entry.module.name == "demo").unwrap();
        assert_eq!(demo.module.web_paths, ["/_synapse/client/demo/hello"]);
    }
}
