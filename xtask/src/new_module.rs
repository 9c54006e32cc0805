//! `cargo xtask new-module NAME [--callbacks ...] [--out-of-tree DIR]`: scaffold a module
//! that compiles, registers and passes its tests before its author writes a line.
//!
//! Everything is checked and every file's new text computed before the first write, so bad
//! input leaves the repository (or `DIR`) untouched. The texts come from pure functions
//! (`template.rs`, `wiring.rs`, `out_of_tree.rs`) that are unit-tested without touching disk.

mod out_of_tree;
mod template;
mod wiring;

use std::{
    fmt,
    path::{Component, Path, PathBuf},
    process::Command,
};

use crate::{
    list,
    workspace::{self, Workspace},
    Error, Result,
};

/// How many categories `--callbacks` offers: the callback categories the macros support,
/// then `web_resource` and `cached`.
const CATEGORY_COUNT: usize = mxmod_common::CATEGORIES.len() + 2;

/// A category of `--callbacks` (the attribute a method carries): one of the callback
/// categories of `mxmod_common::CATEGORIES` (the list the macros and `mxmod` use, so a
/// category added there is offered here, and a test fails until `template.rs` has its
/// example), then `web_resource` and `cached`. Ordered as listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Category(usize);

impl Category {
    /// `#[web_resource]`.
    pub(crate) const WEB_RESOURCE: Category = Category(CATEGORY_COUNT - 2);
    /// `#[cached]`.
    pub(crate) const CACHED: Category = Category(CATEGORY_COUNT - 1);

    /// Every category, in the order generated code and listings use.
    pub(crate) const ALL: [Category; CATEGORY_COUNT] = {
        let mut all = [Category(0); CATEGORY_COUNT];
        let mut n = 0;
        while n < CATEGORY_COUNT {
            all[n] = Category(n);
            n += 1;
        }
        all
    };

    /// The category's name: its attribute, its `--callbacks` entry.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Category::WEB_RESOURCE => "web_resource",
            Category::CACHED => "cached",
            Category(n) => mxmod_common::CATEGORIES[n].name,
        }
    }

    /// The category whose attribute is named `name` (`spam_checker` → spam checker).
    pub(crate) fn parse_attribute(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|category| category.as_str() == name)
    }

    /// The category named `name`, for tests.
    #[cfg(test)]
    pub(crate) fn named(name: &str) -> Category {
        Category::parse_attribute(name).unwrap_or_else(|| panic!("no category `{name}`"))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The module's name in snake_case: its `#[module(name)]`, source file, cargo feature and
    /// web path segment (`/_synapse/client/NAME/...`).
    name: String,
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "CATEGORIES",
        default_value = "spam_checker,web_resource",
        help = categories_help()
    )]
    callbacks: Vec<String>,
    /// Instead of adding the module to crates/modules, create a standalone crate in DIR (new or
    /// empty, outside this repository) with the module and a custom `mxmod` binary linking it.
    #[arg(long, value_name = "DIR")]
    out_of_tree: Option<PathBuf>,
}

/// The help of `--callbacks`, listing every category.
fn categories_help() -> String {
    format!(
        "The callback categories to write a working example (and its test) for, comma-separated: {}",
        Category::ALL.map(Category::as_str).join(", ")
    )
}

pub(crate) fn run(workspace: &Workspace, args: &Args) -> Result<()> {
    let categories = parse_categories(&args.callbacks)?;
    check_name(&args.name)?;
    let plan = match &args.out_of_tree {
        None => plan_in_tree(workspace, &args.name, &categories)?,
        Some(dir) => {
            let cwd =
                std::env::current_dir().map_err(|e| Error::new(format!("cannot read the current directory: {e}")))?;
            plan_out_of_tree(workspace, &args.name, &categories, &cwd.join(dir))?
        }
    };
    plan.apply()?;
    print!("{}", plan.report);
    Ok(())
}

/// The files to create or replace, and what to tell the user afterwards.
#[derive(Debug)]
struct Plan {
    /// Directories to create first.
    dirs: Vec<PathBuf>,
    /// Files and their complete new text.
    files: Vec<(PathBuf, String)>,
    /// Rust files to run rustfmt on afterwards (a safety net for unusually long names).
    rustfmt: Vec<PathBuf>,
    /// Printed when done.
    report: String,
}

impl Plan {
    fn apply(&self) -> Result<()> {
        for dir in &self.dirs {
            std::fs::create_dir_all(dir).map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
        }
        for (path, text) in &self.files {
            workspace::write(path, text)?;
        }
        if !self.rustfmt.is_empty() {
            let rustfmt = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
            let formatted = Command::new(rustfmt).args(["--edition", "2021"]).args(&self.rustfmt).status();
            if !formatted.is_ok_and(|status| status.success()) {
                eprintln!("warning: rustfmt did not run on the new files; run `cargo fmt` before committing");
            }
        }
        Ok(())
    }
}

/// The words Rust reserves (strict, reserved and 2024-edition ones): none can name a module.
const RESERVED_WORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro", "match", "mod",
    "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
    "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Crates a module's code names: a module of the same name would shadow or clash with them.
const CRATE_NAMES: &[&str] = &[
    "alloc",
    "core",
    "proc_macro",
    "std",
    "test",
    "mxmod",
    "mxmod_app",
    "mxmod_macros",
    "mxmod_modules",
    "serde",
    "serde_json",
    "tokio",
    "http",
    "tracing",
    "form_urlencoded",
];

/// Whether `name` is snake_case: lowercase ASCII letters, digits and single underscores,
/// starting with a letter and not ending with an underscore.
fn is_snake_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__")
}

/// `MyModule`, `my-module`, ` My Module ` → `my_module` (a suggestion for a bad name).
fn to_snake_case(name: &str) -> String {
    let mut out = String::new();
    let mut previous_lower = false;
    for c in name.trim().chars() {
        if c.is_ascii_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            previous_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            previous_lower = true;
        } else {
            out.push('_');
            previous_lower = false;
        }
    }
    let collapsed: Vec<&str> = out.split('_').filter(|part| !part.is_empty()).collect();
    collapsed.join("_")
}

/// Checks a module name on its own (the workspace is checked by the plans).
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::new("the module name is empty; give one in snake_case, e.g. `my_module`"));
    }
    if !is_snake_case(name) {
        let suggestion = to_snake_case(name);
        let hint = if is_snake_case(&suggestion) && !RESERVED_WORDS.contains(&suggestion.as_str()) {
            format!("; try `{suggestion}`")
        } else {
            ", e.g. `my_module`".to_owned()
        };
        return Err(Error::new(format!(
            "`{name}` is not a snake_case name: use lowercase ASCII letters, digits and single underscores, \
             starting with a letter{hint}"
        )));
    }
    if RESERVED_WORDS.contains(&name) {
        return Err(Error::new(format!(
            "`{name}` is a Rust reserved word and cannot name a module (it becomes `pub mod {name};`); \
             pick another name, e.g. `{name}_module`"
        )));
    }
    if CRATE_NAMES.contains(&name) {
        return Err(Error::new(format!(
            "`{name}` is the name of a crate module code uses; a module of that name would shadow or clash \
             with it: pick another name, e.g. `my_{name}`"
        )));
    }
    Ok(())
}

/// The `--callbacks` entries as categories: deduplicated, in canonical order.
pub(crate) fn parse_categories(entries: &[String]) -> Result<Vec<Category>> {
    let choices = Category::ALL.map(Category::as_str).join(", ");
    let mut categories = Vec::new();
    for entry in entries {
        let entry = entry.trim();
        match Category::parse_attribute(entry) {
            Some(category) if !template::has_example(category) => {
                return Err(Error::new(format!(
                    "`{category}` has no example to scaffold yet (xtask's `EXAMPLES` table)"
                )))
            }
            Some(category) => categories.push(category),
            None if entry.is_empty() => {
                return Err(Error::new(format!(
                    "`--callbacks` has an empty entry; list categories separated by commas, from: {choices}"
                )))
            }
            None => {
                let hint = Category::ALL
                    .into_iter()
                    .find(|category| category.as_str().contains(entry) || entry.contains(category.as_str()))
                    .map(|category| format!(" (did you mean `{category}`?)"))
                    .unwrap_or_default();
                return Err(Error::new(format!(
                    "`{entry}` is not a callback category{hint}; `--callbacks` takes a comma-separated list of: {choices}"
                )));
            }
        }
    }
    if categories.is_empty() {
        return Err(Error::new(format!("`--callbacks` needs at least one category, from: {choices}")));
    }
    categories.sort();
    categories.dedup();
    Ok(categories)
}

/// Module names already taken in `crates/modules`: features and `#[module(name)]`s.
fn existing_modules(workspace: &Workspace) -> Result<Vec<(String, String)>> {
    let mut taken: Vec<(String, String)> = workspace
        .known_modules()?
        .into_iter()
        .map(|feature| (feature, "a feature of crates/modules/Cargo.toml".to_owned()))
        .collect();
    for entry in list::collect(workspace)? {
        taken.push((entry.module.name, format!("the `#[module(name)]` in {}", entry.file)));
    }
    Ok(taken)
}

fn check_not_taken(name: &str, taken: &[(String, String)]) -> Result<()> {
    match taken.iter().find(|(existing, _)| existing == name) {
        Some((_, place)) => Err(Error::new(format!(
            "a module named `{name}` already exists ({place}); pick another name, or edit that module"
        ))),
        None => Ok(()),
    }
}

/// The new module file and the wiring edits in crates/modules and app.
fn plan_in_tree(workspace: &Workspace, name: &str, categories: &[Category]) -> Result<Plan> {
    let src = workspace.modules_src();
    for existing in [src.join(format!("{name}.rs")), src.join(name)] {
        if existing.exists() {
            return Err(Error::new(format!(
                "module `{name}` already exists: {}; pick another name, or edit that module",
                workspace.relative(&existing)
            )));
        }
    }
    check_not_taken(name, &existing_modules(workspace)?)?;
    let lib_path = src.join("lib.rs");
    let lib_rs = workspace::read(&lib_path)?;
    if let Ok(file) = syn::parse_file(&lib_rs) {
        let declared = file.items.iter().any(|item| matches!(item, syn::Item::Mod(m) if m.ident == name));
        if declared {
            return Err(Error::new(format!(
                "crates/modules/src/lib.rs already declares a module `{name}`; pick another name"
            )));
        }
    }
    let modules_manifest = workspace::read(&workspace.modules_manifest())?;
    let app_manifest = workspace::read(&workspace.app_manifest())?;

    let names = template::Names::new(name);
    let module_file = src.join(format!("{name}.rs"));
    let files = vec![
        (module_file.clone(), template::module_source(&names, categories)),
        (lib_path.clone(), wiring::edit_lib_rs(&lib_rs, name, &template::summary(categories))?),
        (workspace.modules_manifest(), wiring::add_modules_feature(&modules_manifest, name)?),
        (workspace.app_manifest(), wiring::add_app_feature(&app_manifest, name)?),
    ];
    let list: Vec<&str> = categories.iter().map(|category| category.as_str()).collect();
    let report = format!(
        "created crates/modules/src/{name}.rs (module `{name}`, type `{}`; callbacks: {})
updated crates/modules/src/lib.rs, crates/modules/Cargo.toml (feature `{name}`), app/Cargo.toml (feature `{name}`)
next:
    cargo test -p mxmod-modules --no-default-features --features {name}
    cargo xtask build --modules {name}        # then: target/debug/mxmod list-modules
",
        names.type_name,
        list.join(", ")
    );
    Ok(Plan { dirs: Vec::new(), files, rustfmt: vec![module_file], report })
}

/// `path` (absolute) without `.`/`..` segments, with symlinks in its existing part resolved.
fn resolve(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    let mut existing = normal;
    let mut rest = Vec::new();
    while !existing.exists() {
        let Some(last) = existing.file_name().map(ToOwned::to_owned) else { break };
        rest.push(last);
        existing.pop();
    }
    let mut resolved = std::fs::canonicalize(&existing).unwrap_or(existing);
    resolved.extend(rest.iter().rev());
    resolved
}

/// The files of a standalone crate in `dir`.
fn plan_out_of_tree(workspace: &Workspace, name: &str, categories: &[Category], dir: &Path) -> Result<Plan> {
    check_not_taken(name, &existing_modules(workspace)?).map_err(|_| {
        Error::new(format!(
            "`{name}` is already the name of a module shipped in crates/modules; module names must be unique in a \
             binary, so pick another name"
        ))
    })?;
    let root = std::fs::canonicalize(&workspace.root).unwrap_or_else(|_| workspace.root.clone());
    let dir = resolve(dir);
    if dir.starts_with(&root) {
        return Err(Error::new(format!(
            "{} is inside this repository; an out-of-tree crate goes outside it (e.g. `--out-of-tree ../{name}`)",
            dir.display()
        )));
    }
    if dir.exists() {
        if !dir.is_dir() {
            return Err(Error::new(format!("{} exists and is not a directory; pick a new directory", dir.display())));
        }
        let mut entries =
            std::fs::read_dir(&dir).map_err(|e| Error::new(format!("cannot list {}: {e}", dir.display())))?;
        if entries.next().is_some() {
            return Err(Error::new(format!(
                "{} exists and is not empty; pick a new or empty directory (nothing was written)",
                dir.display()
            )));
        }
    }
    let root_manifest = workspace::read(&root.join("Cargo.toml"))?;
    let versions = out_of_tree::Versions::from_workspace_manifest(&root_manifest);
    let names = template::Names::new(name);
    let mut files = vec![
        (
            dir.join("Cargo.toml"),
            out_of_tree::cargo_toml(
                name,
                &out_of_tree::relative_path(&root, &dir),
                &versions,
                &out_of_tree::profiles(&root_manifest),
            ),
        ),
        (dir.join(".gitignore"), out_of_tree::GITIGNORE.to_owned()),
        (dir.join("src/lib.rs"), template::module_source(&names, categories)),
        (dir.join("src/main.rs"), out_of_tree::main_rs(name)),
    ];
    // The house format, and the dependency versions this checkout is tested with.
    for shared in ["rustfmt.toml", "Cargo.lock"] {
        if let Ok(text) = std::fs::read_to_string(root.join(shared)) {
            files.push((dir.join(shared), text));
        }
    }
    let report = format!(
        "created the crate `{name}` in {dir}: src/lib.rs (the module), src/main.rs (an `mxmod` binary linking it), \
         Cargo.toml (mxmod and mxmod-app by the relative path {relative}, mxmod-app without default features)
next:
    cd {dir}
    cargo test
    cargo run -- list-modules
",
        dir = dir.display(),
        relative = out_of_tree::relative_path(&root, &dir).display()
    );
    Ok(Plan {
        dirs: vec![dir.join("src")],
        rustfmt: vec![dir.join("src/lib.rs"), dir.join("src/main.rs")],
        files,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(list: &[&str]) -> Vec<String> {
        list.iter().map(|entry| (*entry).to_owned()).collect()
    }

    #[test]
    fn snake_case_names_pass() {
        for name in ["demo", "my_module", "geo2_fence", "a"] {
            check_name(name).unwrap();
        }
    }

    #[test]
    fn a_name_that_is_not_snake_case_is_refused_with_a_suggestion() {
        let error = check_name("MyModule").unwrap_err().to_string();
        assert!(error.starts_with("`MyModule` is not a snake_case name"), "{error}");
        assert!(error.ends_with("try `my_module`"), "{error}");
        assert!(check_name("my-module").unwrap_err().to_string().ends_with("try `my_module`"));
        for bad in ["_x", "x_", "a__b", "9lives", "caf\u{e9}", "a b", "x.rs"] {
            assert!(check_name(bad).unwrap_err().to_string().contains("not a snake_case name"), "{bad}");
        }
        assert_eq!(
            check_name("").unwrap_err().to_string(),
            "the module name is empty; give one in snake_case, e.g. `my_module`"
        );
    }

    #[test]
    fn reserved_words_and_crate_names_are_refused() {
        for word in ["type", "mod", "self", "async", "gen", "yield"] {
            let error = check_name(word).unwrap_err().to_string();
            assert!(error.contains("is a Rust reserved word"), "{error}");
            assert!(error.contains(&format!("`{word}_module`")), "{error}");
        }
        for name in ["std", "serde", "mxmod", "tokio"] {
            assert!(check_name(name).unwrap_err().to_string().contains("is the name of a crate"), "{name}");
        }
    }

    #[test]
    fn callbacks_are_parsed_deduplicated_and_ordered() {
        let categories = parse_categories(&entries(&["cached", "spam_checker", " cached "])).unwrap();
        assert_eq!(categories, [Category::named("spam_checker"), Category::CACHED]);
        assert_eq!(parse_categories(&entries(&Category::ALL.map(Category::as_str))).unwrap(), Category::ALL);
    }

    #[test]
    fn an_unknown_callback_category_is_refused_listing_every_one() {
        let error = parse_categories(&entries(&["spam"])).unwrap_err().to_string();
        assert_eq!(
            error,
            "`spam` is not a callback category (did you mean `spam_checker`?); `--callbacks` takes a comma-separated \
             list of: spam_checker, third_party_rules, account_validity, presence_router, password_auth_provider, \
             media_repository, ratelimit, account_data, add_extra_fields_to_unsigned_client_event, web_resource, cached"
        );
        assert!(categories_help().ends_with("add_extra_fields_to_unsigned_client_event, web_resource, cached"));
        let error = parse_categories(&entries(&["check_event_for_spam"])).unwrap_err().to_string();
        assert!(error.starts_with("`check_event_for_spam` is not a callback category; "), "{error}");
        assert!(parse_categories(&entries(&["", "cached"])).unwrap_err().to_string().contains("empty entry"));
        assert!(parse_categories(&[]).unwrap_err().to_string().contains("at least one category"));
    }

    /// A scratch workspace with the files `new-module` reads and writes.
    fn scratch_workspace() -> (tempfile::TempDir, Workspace) {
        let real = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = ["Cargo.toml", "Cargo.lock", "rustfmt.toml", "crates/modules/Cargo.toml", "app/Cargo.toml"];
        for file in files {
            std::fs::create_dir_all(dir.path().join(file).parent().unwrap()).unwrap();
            std::fs::copy(real.join(file), dir.path().join(file)).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("crates/modules/src")).unwrap();
        for entry in std::fs::read_dir(real.join("crates/modules/src")).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, dir.path().join("crates/modules/src").join(path.file_name().unwrap())).unwrap();
            }
        }
        let workspace = Workspace { root: dir.path().to_path_buf() };
        (dir, workspace)
    }

    /// Every file under `dir` with its contents.
    fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(next) = pending.pop() {
            for entry in std::fs::read_dir(&next).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    files.push((path.clone(), std::fs::read(&path).unwrap()));
                }
            }
        }
        files.sort();
        files
    }

    fn args(name: &str, callbacks: &[&str], out_of_tree: Option<&Path>) -> Args {
        Args { name: name.to_owned(), callbacks: entries(callbacks), out_of_tree: out_of_tree.map(Path::to_path_buf) }
    }

    #[test]
    fn bad_input_is_refused_before_anything_is_written() {
        let (dir, workspace) = scratch_workspace();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep.txt"), "mine").unwrap();
        let modules_manifest = workspace.modules_manifest();
        let with_ghost =
            std::fs::read_to_string(&modules_manifest).unwrap().replace("[features]\n", "[features]\nghost = []\n");
        std::fs::write(&modules_manifest, with_ghost).unwrap();
        let before = (snapshot(dir.path()), snapshot(outside.path()));
        let cases: [(Args, &str); 9] = [
            (args("MyModule", &["cached"], None), "`MyModule` is not a snake_case name"),
            (args("type", &["cached"], None), "`type` is a Rust reserved word"),
            (args("demo", &["cached"], None), "module `demo` already exists: crates/modules/src/demo.rs"),
            (
                args("ghost", &["cached"], None),
                "a module named `ghost` already exists (a feature of crates/modules/Cargo.toml)",
            ),
            (args("tests", &["cached"], None), "crates/modules/src/lib.rs already declares a module `tests`"),
            (args("fresh", &["spam_checker", "spam"], None), "`spam` is not a callback category"),
            (args("fresh", &["cached"], Some(outside.path())), "exists and is not empty"),
            (args("fresh", &["cached"], Some(&dir.path().join("inside"))), "is inside this repository"),
            (args("demo", &["cached"], Some(&outside.path().join("new"))), "already the name of a module shipped"),
        ];
        for (args, expected) in cases {
            let error = run(&workspace, &args).unwrap_err().to_string();
            assert!(error.contains(expected), "{}: expected {expected:?} in {error:?}", args.name);
            assert_eq!((snapshot(dir.path()), snapshot(outside.path())), before, "{} wrote something", args.name);
        }
    }

    #[test]
    fn a_module_is_added_once_and_a_second_time_refused() {
        let (dir, workspace) = scratch_workspace();
        run(&workspace, &args("geo_fence", &["spam_checker", "cached"], None)).unwrap();
        let module = std::fs::read_to_string(dir.path().join("crates/modules/src/geo_fence.rs")).unwrap();
        assert!(module.contains("#[module(name = \"geo_fence\")]\nimpl GeoFence {"), "{module}");
        let lib = std::fs::read_to_string(dir.path().join("crates/modules/src/lib.rs")).unwrap();
        assert!(lib.contains("#[cfg(feature = \"geo_fence\")]\npub mod geo_fence;\n"), "{lib}");
        let app = std::fs::read_to_string(workspace.app_manifest()).unwrap();
        assert!(app.contains("\ngeo_fence = [\"mxmod-modules/geo_fence\"]\n"), "{app}");
        assert!(workspace.known_modules().unwrap().contains(&"geo_fence".to_owned()));

        let before = snapshot(dir.path());
        let error = run(&workspace, &args("geo_fence", &["cached"], None)).unwrap_err().to_string();
        assert!(error.starts_with("module `geo_fence` already exists: crates/modules/src/geo_fence.rs"), "{error}");
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn an_out_of_tree_crate_goes_into_a_new_or_empty_directory() {
        let (_dir, workspace) = scratch_workspace();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("geo_fence");
        run(&workspace, &args("geo_fence", &["presence_router"], Some(&target))).unwrap();
        let mut files: Vec<String> = snapshot(&target)
            .into_iter()
            .map(|(path, _)| path.strip_prefix(&target).unwrap().display().to_string())
            .collect();
        files.sort();
        assert_eq!(files, [".gitignore", "Cargo.lock", "Cargo.toml", "rustfmt.toml", "src/lib.rs", "src/main.rs"]);
        let manifest = std::fs::read_to_string(target.join("Cargo.toml")).unwrap();
        let root = std::fs::canonicalize(&workspace.root).unwrap();
        assert!(!manifest.contains(&root.display().to_string()), "no absolute path to the checkout:\n{manifest}");
        let relative = out_of_tree::relative_path(&root, &resolve(&target));
        assert!(relative.is_relative());
        assert!(
            manifest.contains(&format!("mxmod = {{ path = \"{}/crates/core\" }}", relative.display())),
            "{manifest}"
        );
        assert!(resolve(&target.join(&relative)) == root, "the relative path leads back to the checkout");
        let empty = outside.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        run(&workspace, &args("geo_fence", &["cached"], Some(&empty))).unwrap();
        assert!(empty.join("src/lib.rs").is_file());
    }

    #[test]
    fn paths_are_resolved_without_dot_segments() {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        assert_eq!(resolve(&base.join("a/./b/../c")), base.join("a/c"));
        assert_eq!(resolve(&base.join("x/..")), base);
    }
}
