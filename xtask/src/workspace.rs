//! The workspace xtask works on: where it is, its well-known files, reading them, and
//! running `cargo` with streamed output.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{Error, Result};

/// The mxmod workspace (the directory holding the root `Cargo.toml`).
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    /// The workspace root.
    pub(crate) root: PathBuf,
}

impl Workspace {
    /// The workspace around the current directory; failing that (xtask run from outside
    /// any checkout), the one this xtask was compiled in.
    pub(crate) fn find() -> Result<Self> {
        let cwd = std::env::current_dir().map_err(|e| Error::new(format!("cannot read the current directory: {e}")))?;
        if let Some(root) = cwd.ancestors().find(|dir| Self::is_root(dir)) {
            return Ok(Workspace { root: root.to_path_buf() });
        }
        let compiled_in = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf);
        match compiled_in {
            Some(root) if Self::is_root(&root) => Ok(Workspace { root }),
            _ => Err(Error::new(format!(
                "{} is not inside the mxmod workspace; run `cargo xtask` from the repository",
                cwd.display()
            ))),
        }
    }

    /// Whether `dir` is an mxmod workspace root: a `[workspace]` manifest next to
    /// `crates/modules`.
    fn is_root(dir: &Path) -> bool {
        dir.join("crates/modules/Cargo.toml").is_file()
            && std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|text| text.contains("[workspace]"))
    }

    /// `crates/modules/Cargo.toml`.
    pub(crate) fn modules_manifest(&self) -> PathBuf {
        self.root.join("crates/modules/Cargo.toml")
    }

    /// `crates/modules/src`.
    pub(crate) fn modules_src(&self) -> PathBuf {
        self.root.join("crates/modules/src")
    }

    /// `app/Cargo.toml`.
    pub(crate) fn app_manifest(&self) -> PathBuf {
        self.root.join("app/Cargo.toml")
    }

    /// The shipped modules: every feature of `mxmod-modules` but `default`.
    pub(crate) fn known_modules(&self) -> Result<Vec<String>> {
        let path = self.modules_manifest();
        module_features(&read(&path)?).map_err(|e| Error::new(format!("{}: {e}", path.display())))
    }

    /// The target directory cargo builds into (`CARGO_TARGET_DIR` or `<root>/target`).
    pub(crate) fn target_dir(&self) -> PathBuf {
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| self.root.join("target"))
    }

    /// `cargo build --release` of these binaries, given as (package, binary); they land
    /// in `target_dir()/release`.
    pub(crate) fn build_release(&self, binaries: &[(&str, &str)]) -> Result<()> {
        let mut build = cargo();
        build.current_dir(&self.root).args(["build", "--release"]);
        for (package, binary) in binaries {
            build.args(["-p", package, "--bin", binary]);
        }
        run(&mut build)
    }

    /// `path` relative to the workspace root, for messages.
    pub(crate) fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).display().to_string()
    }
}

/// Reads a text file, naming it in the error.
pub(crate) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::new(format!("cannot read {}: {e}", path.display())))
}

/// Writes a text file, naming it in the error.
pub(crate) fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))
}

/// The features of a `mxmod-modules`-style manifest, but `default`, in file order.
pub(crate) fn module_features(manifest: &str) -> Result<Vec<String>> {
    let document: toml_edit::DocumentMut =
        manifest.parse().map_err(|e| Error::new(format!("not a valid Cargo.toml: {e}")))?;
    let Some(features) = document.get("features").and_then(toml_edit::Item::as_table_like) else {
        return Ok(Vec::new());
    };
    Ok(features.iter().map(|(name, _)| name.to_owned()).filter(|name| name != "default").collect())
}

/// The names in the `default` feature of a manifest.
pub(crate) fn default_features(manifest: &str) -> Vec<String> {
    let Ok(document) = manifest.parse::<toml_edit::DocumentMut>() else { return Vec::new() };
    document
        .get("features")
        .and_then(|features| features.get("default"))
        .and_then(toml_edit::Item::as_array)
        .map(|array| array.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// `cargo` as the one running xtask (`$CARGO`), else from `PATH`.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

/// Runs a command with inherited output; a failure names the command and its exit status.
pub(crate) fn run(command: &mut Command) -> Result<()> {
    let shown = show(command);
    eprintln!("$ {shown}");
    let status = command.status().map_err(|e| Error::new(format!("cannot start `{shown}`: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::new(format!("`{shown}` failed ({status})")))
    }
}

/// A command as a shell line, for messages (`cargo build -p mxmod-app`).
pub(crate) fn show(command: &Command) -> String {
    let program = Path::new(command.get_program());
    let program = if program.file_stem().is_some_and(|stem| stem == "cargo") {
        "cargo".to_owned()
    } else {
        program.display().to_string()
    };
    std::iter::once(program)
        .chain(command.get_args().map(|arg| arg.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` as rustfmt formats it with the workspace's `rustfmt.toml`.
#[cfg(test)]
pub(crate) fn rustfmt(text: &str) -> String {
    use std::{io::Write, process::Stdio};

    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rustfmt.toml");
    let mut child = Command::new(std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into()))
        .args(["--edition", "2021", "--config-path"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rustfmt runs (rustup component add rustfmt)");
    child.stdin.take().expect("stdin is piped").write_all(text.as_bytes()).expect("rustfmt reads its input");
    let output = child.wait_with_output().expect("rustfmt finishes");
    assert!(output.status.success(), "rustfmt failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("rustfmt prints UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"[package]
name = "mxmod-modules"

[features]
default = ["demo", "list_spam_checker"]
demo = []
list_spam_checker = []
event_censorer = []
"#;

    #[test]
    fn features_are_read_in_file_order_without_default() {
        assert_eq!(module_features(MANIFEST).unwrap(), ["demo", "list_spam_checker", "event_censorer"]);
        assert_eq!(default_features(MANIFEST), ["demo", "list_spam_checker"]);
        assert!(module_features("[package]\nname = \"x\"\n").unwrap().is_empty());
        assert!(module_features("[features\n").unwrap_err().to_string().contains("not a valid Cargo.toml"));
    }

    #[test]
    fn commands_are_shown_as_typed() {
        let mut command = Command::new("/usr/local/bin/cargo");
        command.args(["build", "-p", "mxmod-app"]);
        assert_eq!(show(&command), "cargo build -p mxmod-app");
    }

    #[test]
    fn this_checkout_is_a_workspace_root() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert!(Workspace::is_root(root));
        assert!(!Workspace::is_root(&root.join("xtask")));
    }
}
