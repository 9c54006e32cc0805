//! The files of an out-of-tree module crate: the module as `src/lib.rs`, a custom `mxmod`
//! binary in `src/main.rs` that links it into `mxmod_app::main` (the xcaddy pattern), and a
//! `Cargo.toml` with its own `[workspace]` depending on this checkout by a path relative to
//! the crate, so the pair can be committed, moved and built anywhere together.

use std::path::{Component, Path, PathBuf};

use toml_edit::{DocumentMut, Item, Value};

/// Dependency versions for the generated crate, taken from this workspace's
/// `[workspace.dependencies]` so both stay in step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Versions {
    pub(crate) serde: String,
    pub(crate) serde_json: String,
    pub(crate) tokio: String,
}

impl Versions {
    /// The versions in a workspace manifest; `"1"` for any it does not pin.
    pub(crate) fn from_workspace_manifest(manifest: &str) -> Self {
        let document: Option<DocumentMut> = manifest.parse().ok();
        let version = |name: &str| -> String {
            let dependency = document
                .as_ref()
                .and_then(|d| d.get("workspace"))
                .and_then(|w| w.get("dependencies"))
                .and_then(|d| d.get(name));
            match dependency {
                Some(Item::Value(Value::String(version))) => version.value().clone(),
                Some(item) => item.get("version").and_then(Item::as_str).unwrap_or("1").to_owned(),
                None => "1".to_owned(),
            }
        };
        Versions { serde: version("serde"), serde_json: version("serde_json"), tokio: version("tokio") }
    }
}

/// The `[profile.*]` tables of the workspace manifest, so the crate builds as the workspace
/// does (and, sharing a target directory, reuses its dependencies' artifacts).
pub(crate) fn profiles(workspace_manifest: &str) -> String {
    let Ok(document) = workspace_manifest.parse::<DocumentMut>() else { return String::new() };
    let Some(profile) = document.get("profile") else { return String::new() };
    let mut only_profiles = DocumentMut::new();
    only_profiles.insert("profile", profile.clone());
    let text = only_profiles.to_string();
    if text.trim().is_empty() {
        return String::new();
    }
    format!("\n# The build profiles of the mxmod workspace.\n{}\n", text.trim())
}

/// A TOML basic string holding `text`.
fn toml_string(text: &str) -> String {
    Value::from(text).to_string().trim().to_owned()
}

/// `target` as seen from `from` (both absolute and normalised): `../mxmod` for a checkout
/// next to the crate.
pub(crate) fn relative_path(target: &Path, from: &Path) -> PathBuf {
    let target: Vec<Component<'_>> = target.components().collect();
    let from: Vec<Component<'_>> = from.components().collect();
    let common = target.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in common..from.len() {
        relative.push("..");
    }
    for component in &target[common..] {
        relative.push(component);
    }
    if relative.as_os_str().is_empty() {
        relative.push(".");
    }
    relative
}

/// A path in a manifest: `/` separators on every platform.
fn manifest_path(path: &Path) -> String {
    path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
}

/// `Cargo.toml` of the crate; `workspace_root` is the checkout relative to the crate's
/// directory (see [`relative_path`]).
pub(crate) fn cargo_toml(name: &str, workspace_root: &Path, versions: &Versions, profiles: &str) -> String {
    let core = toml_string(&manifest_path(&workspace_root.join("crates/core")));
    let app = toml_string(&manifest_path(&workspace_root.join("app")));
    let Versions { serde, serde_json, tokio } = versions;
    format!(
        r#"# `{name}`: an mxmod module in a crate of its own, plus an `mxmod` binary that runs it.
# Scaffolded by `cargo xtask new-module {name} --out-of-tree ...` in the mxmod repository.
# mxmod is found by a path relative to this directory: keep the two side by side as they
# were (or change the two `path`s) when committing or moving them.
#
#   cargo test                      # the module's tests
#   cargo run -- list-modules       # the binary lists `{name}`
#   cargo run -- run -c homeserver.yaml

[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

# The server: src/main.rs links this crate's module into `mxmod_app::main`.
[[bin]]
name = "mxmod"
path = "src/main.rs"

[dependencies]
mxmod = {{ path = {core} }}
# `default-features = false`: the binary holds this crate's module and none of the modules
# shipped with mxmod. To link some of those too, list them: `features = ["demo"]`.
mxmod-app = {{ path = {app}, default-features = false }}
serde = {{ version = "{serde}", features = ["derive"] }}
serde_json = "{serde_json}"

[dev-dependencies]
tokio = {{ version = "{tokio}", features = ["macros", "rt"] }}

# A workspace of its own: not part of any workspace around it.
[workspace]
{profiles}"#
    )
}

/// `src/main.rs` of the crate.
pub(crate) fn main_rs(name: &str) -> String {
    format!(
        r#"//! The `mxmod` homeserver with the `{name}` module linked in: `mxmod_app::main` plus this
//! package's library (the xcaddy pattern).

// Naming the library crate links it, and with it the module's registry entries.
use {name} as _;

fn main() -> std::process::ExitCode {{
    mxmod_app::main()
}}
"#
    )
}

/// `.gitignore` of the crate.
pub(crate) const GITIGNORE: &str = "/target/\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_from_the_workspace_dependencies() {
        let manifest = "[workspace.dependencies]\nserde = { version = \"1.0.200\", features = [\"derive\"] }\n\
                        serde_json = \"1.0.1\"\n";
        let versions = Versions::from_workspace_manifest(manifest);
        assert_eq!(versions, Versions { serde: "1.0.200".into(), serde_json: "1.0.1".into(), tokio: "1".into() });
    }

    #[test]
    fn the_checkout_is_found_relative_to_the_crate() {
        let relative = |target: &str, from: &str| manifest_path(&relative_path(Path::new(target), Path::new(from)));
        assert_eq!(relative("/src/mxmod", "/src/geo_fence"), "../mxmod");
        assert_eq!(relative("/src/mxmod", "/home/me/work/geo_fence"), "../../../../src/mxmod");
        assert_eq!(relative("/a", "/a"), ".");
    }

    #[test]
    fn the_manifest_is_standalone_and_points_at_this_checkout_relatively() {
        let versions = Versions { serde: "1".into(), serde_json: "1".into(), tokio: "1.40".into() };
        let profiles =
            profiles("[workspace]\n\n[profile.dev]\ndebug = 1\n\n[profile.dev.package.\"*\"]\ndebug = false\n");
        let text = cargo_toml("geo_fence", Path::new("../mx \"mod\""), &versions, &profiles);
        let document: DocumentMut = text.parse().expect("valid TOML");
        assert_eq!(document["package"]["name"].as_str(), Some("geo_fence"));
        assert!(document.get("workspace").is_some_and(Item::is_table), "needs its own [workspace]");
        assert_eq!(document["dependencies"]["mxmod"]["path"].as_str(), Some("../mx \"mod\"/crates/core"));
        assert_eq!(document["dependencies"]["mxmod-app"]["path"].as_str(), Some("../mx \"mod\"/app"));
        assert_eq!(document["dependencies"]["mxmod-app"]["default-features"].as_bool(), Some(false));
        assert_eq!(document["bin"][0]["name"].as_str(), Some("mxmod"));
        assert_eq!(document["dev-dependencies"]["tokio"]["version"].as_str(), Some("1.40"));
        assert_eq!(document["profile"]["dev"]["debug"].as_integer(), Some(1));
        assert_eq!(document["profile"]["dev"]["package"]["*"]["debug"].as_bool(), Some(false));
        assert!(super::profiles("[workspace]\n").is_empty());
    }

    #[test]
    fn the_binary_links_the_library_and_calls_the_app() {
        let main = main_rs("geo_fence");
        assert!(main.starts_with("//! "));
        assert!(main.contains("\nuse geo_fence as _;\n"));
        assert!(main.contains("fn main() -> std::process::ExitCode {\n    mxmod_app::main()\n}\n"));
        syn::parse_file(&main).expect("valid Rust");
    }
}
