//! Wiring a new module into the workspace, as pure text edits: `crates/modules/src/lib.rs`
//! (the module declaration, `SHIPPED`, the `enabled()` flags, the docs table) and the
//! `[features]` of `crates/modules/Cargo.toml` and `app/Cargo.toml` (with `toml_edit`, so
//! formatting and comments stay as they are).

use toml_edit::{Array, DocumentMut, Item};

use crate::{Error, Result};

/// The maximum line width of `rustfmt.toml`.
const MAX_WIDTH: usize = 120;

/// `lib.rs` with `name` declared (sorted), in `SHIPPED` (sorted), in the `enabled()` flags
/// (sorted) and in the docs table (appended).
pub(crate) fn edit_lib_rs(lib_rs: &str, name: &str, summary: &str) -> Result<String> {
    let mut lines: Vec<String> = lib_rs.lines().map(str::to_owned).collect();
    add_table_row(&mut lines, name, summary);
    add_mod_declaration(&mut lines, name)?;
    add_to_shipped(&mut lines, name)?;
    add_flag(&mut lines, name)?;
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

fn not_found(what: &str) -> Error {
    Error::new(format!(
        "cannot find {what} in crates/modules/src/lib.rs; has its layout changed? Restore it or wire the module by hand"
    ))
}

/// Appends `| \`name\` | summary |` to the `//!` table, if there is one.
fn add_table_row(lines: &mut Vec<String>, name: &str, summary: &str) {
    if let Some(last) = lines.iter().rposition(|line| line.starts_with("//! | `")) {
        lines.insert(last + 1, format!("//! | `{name}` | {summary} |"));
    }
}

/// The `X` in a line `#[cfg(feature = "X")]`.
fn cfg_feature_line(line: &str) -> Option<&str> {
    line.trim().strip_prefix("#[cfg(feature = \"")?.strip_suffix("\")]")
}

/// The `X` in a line `pub mod X;`.
fn pub_mod_line(line: &str) -> Option<&str> {
    line.trim().strip_prefix("pub mod ")?.strip_suffix(';')
}

/// Inserts `#[cfg(feature = "name")] pub mod name;` among the gated declarations, sorted.
fn add_mod_declaration(lines: &mut Vec<String>, name: &str) -> Result<()> {
    let pairs: Vec<(usize, String)> = (0..lines.len().saturating_sub(1))
        .filter(|&n| cfg_feature_line(&lines[n]).is_some())
        .filter_map(|n| pub_mod_line(&lines[n + 1]).map(|module| (n, module.to_owned())))
        .collect();
    let Some((last, _)) = pairs.last() else {
        return Err(not_found("the `#[cfg(feature = \"...\")] pub mod ...;` declarations"));
    };
    let at = pairs.iter().find(|(_, module)| module.as_str() > name).map_or(last + 2, |(n, _)| *n);
    lines.insert(at, format!("pub mod {name};"));
    lines.insert(at, format!("#[cfg(feature = \"{name}\")]"));
    Ok(())
}

/// Adds `name` to `pub const SHIPPED: &[&str] = &[...];`, sorted, laid out as rustfmt does.
fn add_to_shipped(lines: &mut Vec<String>, name: &str) -> Result<()> {
    const HEAD: &str = "pub const SHIPPED: &[&str] =";
    let start = lines.iter().position(|line| line.starts_with(HEAD)).ok_or_else(|| not_found("`SHIPPED`"))?;
    let end =
        (start..lines.len()).find(|&n| lines[n].trim_end().ends_with("];")).ok_or_else(|| not_found("`SHIPPED`"))?;
    let statement = lines[start..=end].join(" ");
    let list = statement
        .split_once("&[")
        .and_then(|(_, rest)| rest.rsplit_once(']'))
        .map(|(list, _)| list)
        .ok_or_else(|| not_found("the `SHIPPED` list"))?;
    let mut names: Vec<String> = list.split('"').skip(1).step_by(2).map(str::to_owned).collect();
    names.push(name.to_owned());
    names.sort();
    names.dedup();
    lines.splice(start..=end, shipped_lines(HEAD, &names));
    Ok(())
}

/// `HEAD &["a", "b"];` on one line, else its value on the next line, else one name a line.
fn shipped_lines(head: &str, names: &[String]) -> Vec<String> {
    let quoted: Vec<String> = names.iter().map(|name| format!("\"{name}\"")).collect();
    let value = format!("&[{}];", quoted.join(", "));
    if head.len() + 1 + value.len() <= MAX_WIDTH {
        return vec![format!("{head} {value}")];
    }
    if 4 + value.len() <= MAX_WIDTH {
        return vec![head.to_owned(), format!("    {value}")];
    }
    let mut out = vec![format!("{head} &[")];
    out.extend(quoted.iter().map(|name| format!("    {name},")));
    out.push("];".to_owned());
    out
}

/// The `X` in a line `("X", cfg!(feature = "X")),`.
fn flag_line(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix("(\"")?;
    let (name, rest) = rest.split_once('"')?;
    rest.contains("cfg!(feature").then_some(name)
}

/// Adds `("name", cfg!(feature = "name")),` to the `flags` array of `enabled()`, sorted.
fn add_flag(lines: &mut Vec<String>, name: &str) -> Result<()> {
    let flags: Vec<usize> = (0..lines.len()).filter(|&n| flag_line(&lines[n]).is_some()).collect();
    let (Some(first), Some(last)) = (flags.first(), flags.last()) else {
        return Err(not_found("the `(\"...\", cfg!(feature = \"...\"))` flags of `enabled()`"));
    };
    let indent: String = lines[*first].chars().take_while(|c| c.is_whitespace()).collect();
    let at = flags.iter().find(|&&n| flag_line(&lines[n]).is_some_and(|flag| flag > name)).map_or(last + 1, |n| *n);
    lines.insert(at, format!("{indent}(\"{name}\", cfg!(feature = \"{name}\")),"));
    Ok(())
}

/// A manifest with `name = value` appended to its `[features]`.
fn add_feature(manifest: &str, file: &str, name: &str, value: Array) -> Result<String> {
    let mut document: DocumentMut =
        manifest.parse().map_err(|e| Error::new(format!("{file} is not a valid Cargo.toml: {e}")))?;
    let features = document
        .get_mut("features")
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| Error::new(format!("{file} has no `[features]` table; add one")))?;
    if features.contains_key(name) {
        return Err(Error::new(format!("`{name}` is already a feature of {file}; pick another module name")));
    }
    features.insert(name, toml_edit::value(value));
    Ok(document.to_string())
}

/// `crates/modules/Cargo.toml` with the feature `name = []` (not in `default`).
pub(crate) fn add_modules_feature(manifest: &str, name: &str) -> Result<String> {
    add_feature(manifest, "crates/modules/Cargo.toml", name, Array::new())
}

/// `app/Cargo.toml` with the feature `name = ["mxmod-modules/name"]` (not in `default`).
pub(crate) fn add_app_feature(manifest: &str, name: &str) -> Result<String> {
    add_feature(manifest, "app/Cargo.toml", name, Array::from_iter([format!("mxmod-modules/{name}")]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB_RS: &str = r#"//! The modules.
//!
//! | feature / module | what it does |
//! |---|---|
//! | `demo` | the demo |
//! | `list_spam_checker` | a list |

#[cfg(feature = "demo")]
pub mod demo;
#[cfg(feature = "list_spam_checker")]
pub mod list_spam_checker;

#[cfg(test)]
mod test_http;

/// Every module.
pub const SHIPPED: &[&str] = &["demo", "list_spam_checker"];

/// Enabled ones.
pub fn enabled() -> Vec<&'static str> {
    let flags = [
        ("demo", cfg!(feature = "demo")),
        ("list_spam_checker", cfg!(feature = "list_spam_checker")),
    ];
    flags.into_iter().filter(|(_, on)| *on).map(|(name, _)| name).collect()
}
"#;

    #[test]
    fn lib_rs_gets_every_list_in_sorted_order() {
        let edited = edit_lib_rs(LIB_RS, "geo_fence", "fences").unwrap();
        assert_eq!(
            edited,
            r#"//! The modules.
//!
//! | feature / module | what it does |
//! |---|---|
//! | `demo` | the demo |
//! | `list_spam_checker` | a list |
//! | `geo_fence` | fences |

#[cfg(feature = "demo")]
pub mod demo;
#[cfg(feature = "geo_fence")]
pub mod geo_fence;
#[cfg(feature = "list_spam_checker")]
pub mod list_spam_checker;

#[cfg(test)]
mod test_http;

/// Every module.
pub const SHIPPED: &[&str] = &["demo", "geo_fence", "list_spam_checker"];

/// Enabled ones.
pub fn enabled() -> Vec<&'static str> {
    let flags = [
        ("demo", cfg!(feature = "demo")),
        ("geo_fence", cfg!(feature = "geo_fence")),
        ("list_spam_checker", cfg!(feature = "list_spam_checker")),
    ];
    flags.into_iter().filter(|(_, on)| *on).map(|(name, _)| name).collect()
}
"#
        );
    }

    #[test]
    fn a_name_sorting_last_or_first_goes_at_the_ends() {
        let last = edit_lib_rs(LIB_RS, "zebra", "z").unwrap();
        assert!(last.contains("pub mod list_spam_checker;\n#[cfg(feature = \"zebra\")]\npub mod zebra;\n\n"));
        assert!(last.contains("list_spam_checker\")),\n        (\"zebra\", cfg!(feature = \"zebra\")),\n    ];"));
        let first = edit_lib_rs(LIB_RS, "aardvark", "a").unwrap();
        assert!(first.contains("\n#[cfg(feature = \"aardvark\")]\npub mod aardvark;\n#[cfg(feature = \"demo\")]"));
        assert!(first.contains("&[\"aardvark\", \"demo\", \"list_spam_checker\"]"));
    }

    #[test]
    fn shipped_wraps_as_rustfmt_does() {
        let names = |n: usize| -> Vec<String> { (0..n).map(|i| format!("module_number_{i:02}")).collect() };
        assert_eq!(shipped_lines("pub const SHIPPED: &[&str] =", &names(3)).len(), 1);
        let two = shipped_lines("pub const SHIPPED: &[&str] =", &names(5));
        assert_eq!(two[0], "pub const SHIPPED: &[&str] =");
        assert!(two[1].starts_with("    &[\"module_number_00\""));
        let many = shipped_lines("pub const SHIPPED: &[&str] =", &names(8));
        assert_eq!(many.len(), 10);
        assert_eq!(many[1], "    \"module_number_00\",");
        assert_eq!(many[9], "];");
        // A vertical list is read back and stays vertical.
        let mut lines: Vec<String> = many.clone();
        add_to_shipped(&mut lines, "another_one").unwrap();
        assert_eq!(lines.len(), 11);
        assert_eq!(lines[1], "    \"another_one\",");
    }

    #[test]
    fn a_changed_lib_rs_is_an_error_not_a_guess() {
        let error = edit_lib_rs("//! Nothing here.\n", "x", "y").unwrap_err().to_string();
        assert!(error.contains("cannot find the `#[cfg(feature = \"...\")] pub mod ...;` declarations"), "{error}");
        let no_flags =
            LIB_RS.replace("(\"demo\", cfg!(feature = \"demo\")),", "").replace("(\"list_spam", "(list_spam");
        assert!(edit_lib_rs(&no_flags, "x", "y").unwrap_err().to_string().contains("flags of `enabled()`"));
    }

    #[test]
    fn the_real_lib_rs_stays_formatted_and_the_real_manifests_keep_their_defaults() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
        for name in ["aaa_first", "middle_module", "zzz_last"] {
            let edited = edit_lib_rs(&read("crates/modules/src/lib.rs"), name, "a summary").unwrap();
            assert!(edited.contains(&format!("#[cfg(feature = \"{name}\")]\npub mod {name};\n")));
            assert!(edited.contains(&format!("(\"{name}\", cfg!(feature = \"{name}\")),")));
            assert_eq!(crate::workspace::rustfmt(&edited), edited, "rustfmt would change the edited lib.rs");
        }
        for (path, edit) in [
            ("crates/modules/Cargo.toml", add_modules_feature as fn(&str, &str) -> Result<String>),
            ("app/Cargo.toml", add_app_feature),
        ] {
            let before = read(path);
            let after = edit(&before, "new_one").unwrap();
            assert_eq!(
                crate::workspace::default_features(&after),
                crate::workspace::default_features(&before),
                "{path}: the default set must not change"
            );
            assert!(crate::workspace::module_features(&after).unwrap().ends_with(&["new_one".to_owned()]));
            let removed: Vec<&str> = after.lines().filter(|line| !line.starts_with("new_one = ")).collect();
            assert_eq!(removed.join("\n").trim_end(), before.trim_end(), "{path}: only one line is added");
        }
    }

    const MODULES_TOML: &str = r#"[package]
name = "mxmod-modules"

[features]
default = ["demo"]
# The demo.
demo = []

[dependencies]
mxmod.workspace = true
"#;

    #[test]
    fn features_are_appended_keeping_comments_and_the_default_set() {
        assert_eq!(
            add_modules_feature(MODULES_TOML, "geo_fence").unwrap(),
            MODULES_TOML.replace("demo = []\n", "demo = []\ngeo_fence = []\n")
        );
        let app = MODULES_TOML.replace("demo = []", "demo = [\"mxmod-modules/demo\"]");
        assert_eq!(
            add_app_feature(&app, "geo_fence").unwrap(),
            app.replace("/demo\"]\n", "/demo\"]\ngeo_fence = [\"mxmod-modules/geo_fence\"]\n")
        );
    }

    #[test]
    fn an_existing_feature_or_a_missing_table_is_an_error() {
        let error = add_modules_feature(MODULES_TOML, "demo").unwrap_err().to_string();
        assert_eq!(error, "`demo` is already a feature of crates/modules/Cargo.toml; pick another module name");
        let error = add_app_feature("[package]\nname = \"x\"\n", "demo").unwrap_err().to_string();
        assert_eq!(error, "app/Cargo.toml has no `[features]` table; add one");
    }
}
