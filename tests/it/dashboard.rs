//! The operator's Grafana dashboard (`contrib/grafana/mxmod-dashboard.json`) only queries
//! series that `/_synapse/metrics` exports.

use serde_json::{json, Value};

use crate::support::{config_with_modules, workspace, Server};

/// Every `expr` and templating `query` in the dashboard, as text.
fn queries(dashboard: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect(dashboard, &mut found);
    found
}

fn collect(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "query" | "definition", Value::String(text)) => found.push(text.clone()),
                    _ => collect(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect(item, found)),
        _ => {}
    }
}

/// The `mxmod_*` metric names a PromQL expression mentions.
fn metric_names(expression: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expression;
    while let Some(start) = rest.find("mxmod_") {
        let tail = &rest[start..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// Whether the exposition text declares the family `name` belongs to: the name itself, a
/// counter's name without `_total` (OpenMetrics style), or a histogram's series.
fn declared(exposition: &str, name: &str) -> bool {
    exposition.lines().filter_map(|line| line.strip_prefix("# TYPE ")).any(|declaration| {
        let family = declaration.split_whitespace().next().unwrap_or_default();
        name == family
            || name.strip_suffix("_total") == Some(family)
            || ["_bucket", "_sum", "_count"].iter().any(|suffix| name.strip_suffix(suffix) == Some(family))
    })
}

/// Whether the exposition text has at least one sample of `name`.
fn sampled(exposition: &str, name: &str) -> bool {
    exposition.lines().any(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with(['{', ' '])))
}

#[test]
fn every_metric_the_dashboard_queries_is_exported() {
    let path = workspace().join("contrib/grafana/mxmod-dashboard.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut names: Vec<String> = queries(&dashboard).iter().flat_map(|query| metric_names(query)).collect();
    names.sort();
    names.dedup();
    assert!(names.len() >= 8, "the dashboard queries too few series to be useful: {names:?}");

    let server = Server::start(&config_with_modules("  - module: demo\n"));
    let (_, token) = server.register("watched");
    server.create_room(&token, json!({}));
    let (status, body) = server.call_raw("GET", "/_synapse/metrics", None, None, None);
    assert_eq!(status, 200);
    let exposition = String::from_utf8(body).unwrap();

    for name in &names {
        assert!(declared(&exposition, name), "the dashboard queries `{name}`, which is not exported:\n{exposition}");
        // The demo module has no #[cached] method, so cache families have no samples here.
        if !name.starts_with("mxmod_module_cache_") {
            assert!(
                sampled(&exposition, name),
                "`{name}` is declared but has no sample after a request:\n{exposition}"
            );
        }
    }
}

#[test]
fn metric_names_are_read_out_of_promql() {
    assert_eq!(
        metric_names("sum(rate(mxmod_a_total{x=\"y\"}[5m])) / sum(rate(mxmod_b_bucket[5m]))"),
        ["mxmod_a_total", "mxmod_b_bucket"]
    );
}
