//! `cargo xtask build --modules a,b [--release]`: the `mxmod` binary with exactly these
//! modules (`mxmod-app` without its default set), then where it is and what it holds.
//! (This is a subcommand, not a build script: only a `build.rs` at a package root is one.)

use std::process::Command;

use crate::{
    workspace::{self, Workspace},
    Error, Result,
};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The modules to compile in, comma-separated: features of crates/modules (`cargo xtask list`
    /// shows them). `--modules ''` builds a binary with no modules.
    #[arg(long, value_delimiter = ',', required = true, value_name = "MODULES")]
    modules: Vec<String>,
    /// Build with the release profile (`target/release/mxmod`).
    #[arg(long)]
    release: bool,
}

pub(crate) fn run(workspace: &Workspace, args: &Args) -> Result<()> {
    let known = workspace.known_modules()?;
    let app_features = workspace::module_features(&workspace::read(&workspace.app_manifest())?)?;
    let modules = check_modules(&args.modules, &known, &app_features)?;
    let mut build = workspace::cargo();
    build.args(cargo_args(&modules, args.release)).current_dir(&workspace.root);
    workspace::run(&mut build)?;

    let profile = if args.release { "release" } else { "debug" };
    let binary = workspace.target_dir().join(profile).join(format!("mxmod{}", std::env::consts::EXE_SUFFIX));
    if !binary.is_file() {
        return Err(Error::new(format!(
            "cargo finished but {} is missing; is `build.target-dir` set in a cargo config? Set CARGO_TARGET_DIR instead",
            binary.display()
        )));
    }
    let output = Command::new(&binary)
        .arg("list-modules")
        .output()
        .map_err(|e| Error::new(format!("cannot run {}: {e}", binary.display())))?;
    if !output.status.success() {
        return Err(Error::new(format!(
            "`{} list-modules` failed ({}): {}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    println!("binary: {}", binary.display());
    println!("modules requested: {}", if modules.is_empty() { "none".to_owned() } else { modules.join(", ") });
    println!("`mxmod list-modules` says:");
    print!("{}", String::from_utf8_lossy(&output.stdout));
    Ok(())
}

/// The requested modules, deduplicated in order; every one must be a feature of
/// `mxmod-modules` (and mirrored in `mxmod-app`).
pub(crate) fn check_modules(requested: &[String], known: &[String], app_features: &[String]) -> Result<Vec<String>> {
    let mut modules: Vec<String> = Vec::new();
    for name in requested.iter().map(|name| name.trim()).filter(|name| !name.is_empty()) {
        if !modules.iter().any(|seen| seen == name) {
            modules.push(name.to_owned());
        }
    }
    let unknown: Vec<String> =
        modules.iter().filter(|name| !known.contains(name)).map(|name| format!("`{name}`")).collect();
    if !unknown.is_empty() {
        let (noun, pronoun) = if unknown.len() == 1 { ("module", "it is") } else { ("modules", "they are") };
        return Err(Error::new(format!(
            "unknown {noun} {}: {pronoun} not a feature of crates/modules/Cargo.toml. Known modules: {}. \
             (`cargo xtask list` describes them; `cargo xtask new-module NAME` adds one.)",
            unknown.join(", "),
            known.join(", ")
        )));
    }
    if let Some(missing) = modules.iter().find(|name| !app_features.contains(name)) {
        return Err(Error::new(format!(
            "module `{missing}` is a feature of crates/modules but not of app/Cargo.toml; \
             add `{missing} = [\"mxmod-modules/{missing}\"]` to the `[features]` of app/Cargo.toml"
        )));
    }
    Ok(modules)
}

/// `cargo build -p mxmod-app --no-default-features --features a,b [--release]`.
pub(crate) fn cargo_args(modules: &[String], release: bool) -> Vec<String> {
    let mut args: Vec<String> =
        ["build", "-p", "mxmod-app", "--bin", "mxmod", "--no-default-features"].map(str::to_owned).to_vec();
    if !modules.is_empty() {
        args.push("--features".to_owned());
        args.push(modules.join(","));
    }
    if release {
        args.push("--release".to_owned());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn known_modules_pass_deduplicated_in_order() {
        let known = names(&["demo", "list_spam_checker", "event_censorer"]);
        let modules = check_modules(&names(&["event_censorer", "demo", "event_censorer", ""]), &known, &known);
        assert_eq!(modules.unwrap(), ["event_censorer", "demo"]);
        assert!(check_modules(&names(&[""]), &known, &known).unwrap().is_empty());
    }

    #[test]
    fn an_unknown_module_is_an_error_listing_the_known_ones() {
        let known = names(&["demo", "list_spam_checker"]);
        let error = check_modules(&names(&["demo", "dmeo"]), &known, &known).unwrap_err().to_string();
        assert!(
            error.starts_with("unknown module `dmeo`: it is not a feature of crates/modules/Cargo.toml"),
            "{error}"
        );
        assert!(error.contains("Known modules: demo, list_spam_checker."), "{error}");
        let error = check_modules(&names(&["x", "y"]), &known, &known).unwrap_err().to_string();
        assert!(error.starts_with("unknown modules `x`, `y`: they are not"), "{error}");
    }

    #[test]
    fn a_module_missing_from_the_app_is_an_error() {
        let error = check_modules(&names(&["demo"]), &names(&["demo"]), &[]).unwrap_err().to_string();
        assert!(error.contains("add `demo = [\"mxmod-modules/demo\"]`"), "{error}");
    }

    #[test]
    fn the_build_has_exactly_the_chosen_features() {
        assert_eq!(
            cargo_args(&names(&["demo", "user_department"]), true).join(" "),
            "build -p mxmod-app --bin mxmod --no-default-features --features demo,user_department --release"
        );
        assert_eq!(cargo_args(&[], false).join(" "), "build -p mxmod-app --bin mxmod --no-default-features");
    }
}
