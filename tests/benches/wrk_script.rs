//! Fills in `wrk.lua`, the `wrk` script of both send benchmarks. Included by path by
//! `app/benches/sends.rs` and `xtask/src/bench_pg.rs`, which live in other crates.

/// The script: `method` to each of `paths` in turn, each followed by a unique
/// `{thread}-{n}` when `unique` (a new transaction ID per send), with `body` if any and
/// `token` as the bearer.
pub(crate) fn wrk_script(paths: &[&str], unique: bool, method: &str, body: Option<&str>, token: &str) -> String {
    // Long strings: paths and JSON bodies need no escaping in them.
    let lua_string = |text: &str| format!("[==[{text}]==]");
    let paths: Vec<String> = paths.iter().map(|path| lua_string(path)).collect();
    include_str!("wrk.lua")
        .replace("@PATHS@", &paths.join(", "))
        .replace("@UNIQUE@", if unique { "true" } else { "false" })
        .replace("@METHOD@", method)
        .replace("@BODY@", &body.map_or_else(|| "nil".to_owned(), lua_string))
        .replace("@TOKEN@", token)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_marker_is_filled() {
        let script = super::wrk_script(&["/a-", "/b-"], true, "PUT", Some(r#"{"k":"v"}"#), "T0K");
        let mut code = script.lines().filter(|line| !line.trim_start().starts_with("--"));
        assert!(code.all(|line| !line.contains('@')), "a marker is left in:\n{script}");
        assert!(script.contains("local paths = { [==[/a-]==], [==[/b-]==] }"), "{script}");
        assert!(script.contains("local unique = true\n") && script.contains("local method = \"PUT\"\n"));
        assert!(script.contains(r#"local payload = [==[{"k":"v"}]==]"#) && script.contains("Bearer T0K"));
        let get = super::wrk_script(&["/w"], false, "GET", None, "T0K");
        assert!(get.contains("local unique = false\n") && get.contains("local payload = nil\n"), "{get}");
    }
}
