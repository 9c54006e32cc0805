//! `/_synapse/metrics`: every series the server has always exported, under the same
//! names, read after requests that move each of them.

use serde_json::json;

use crate::support::{config_with_modules, enc, fake_service, Server};

/// The sample of `series` (name and labels exactly as exported); panics with the text.
fn sample(text: &str, series: &str) -> u64 {
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no `{series}` in:\n{text}"));
    value.parse().unwrap_or_else(|_| panic!("`{series}` has the value {value:?}"))
}

#[test]
fn metrics_export_every_series_under_its_name() {
    let service = fake_service(|_, _, _| (200, json!({ "department": "sales" })));
    let server = Server::start(&config_with_modules(&format!(
        "  - module: demo\n  - module: user_department\n    config:\n      service: {service}/department\n      \
         shared_secret: s3cret\n"
    )));
    let (_, token) = server.register("counted");
    let (invitee, _) = server.register("invitee");
    let room = server.create_room(&token, json!({}));
    let invite = format!("/_matrix/client/v3/rooms/{}/invite", enc(&room));
    assert_eq!(server.call("POST", &invite, Some(&token), Some(&json!({ "user_id": invitee }))).0, 200);
    assert_eq!(server.call("GET", "/_synapse/client/demo/hello?name=x", None, None).0, 200);
    // `GET /versions` is answered by the front door, in front of the router; the other
    // methods of its path by the router. Both count under the route's own label.
    for _ in 0..2 {
        assert_eq!(server.call("GET", "/_matrix/client/versions", None, None).0, 200);
    }
    assert_eq!(server.call("DELETE", "/_matrix/client/versions", None, None).0, 405);
    assert_eq!(server.call("GET", "/nothing/here", None, None).0, 404);

    let (status, text) = server.call_raw("GET", "/_synapse/metrics", None, None, None);
    let text = String::from_utf8(text).unwrap();
    assert_eq!(status, 200);
    for family in [
        "mxmod_module_callback_calls_total counter",
        "mxmod_module_callback_errors_total counter",
        "mxmod_module_callback_seconds histogram",
        "mxmod_module_cache_hits_total counter",
        "mxmod_module_cache_misses_total counter",
        "mxmod_module_cache_evictions_total counter",
        "mxmod_http_requests_total counter",
        "mxmod_events_stored_total counter",
    ] {
        assert!(text.contains(&format!("# TYPE {family}\n")), "no `{family}` family in:\n{text}");
    }
    let created = r#"{module="demo",category="spam_checker",callback="user_may_create_room"}"#;
    assert_eq!(sample(&text, &format!("mxmod_module_callback_calls_total{created}")), 1);
    assert_eq!(sample(&text, &format!("mxmod_module_callback_errors_total{created}")), 0);
    let timed = r#"{module="demo",category="spam_checker",callback="user_may_create_room""#;
    assert_eq!(sample(&text, &format!(r#"mxmod_module_callback_seconds_bucket{timed},le="+Inf"}}"#)), 1);
    assert_eq!(sample(&text, &format!("mxmod_module_callback_seconds_count{created}")), 1);
    assert!(text.contains(&format!("mxmod_module_callback_seconds_sum{created} ")), "{text}");
    let cache = r#"{module="user_department",cache="get_department_for_user"}"#;
    assert_eq!(sample(&text, &format!("mxmod_module_cache_misses_total{cache}")), 2, "inviter and invitee");
    assert_eq!(sample(&text, &format!("mxmod_module_cache_hits_total{cache}")), 0);
    assert_eq!(sample(&text, &format!("mxmod_module_cache_evictions_total{cache}")), 0);
    for (series, count) in [
        (r#"{method="POST",route="/_matrix/client/v3/createRoom",status="200"}"#, 1),
        (r#"{method="POST",route="/_matrix/client/v3/register",status="200"}"#, 2),
        (r#"{method="GET",route="module",status="200"}"#, 1),
        (r#"{method="GET",route="/_matrix/client/versions",status="200"}"#, 2),
        (r#"{method="DELETE",route="/_matrix/client/versions",status="405"}"#, 1),
        (r#"{method="GET",route="unmatched",status="404"}"#, 1),
    ] {
        assert_eq!(sample(&text, &format!("mxmod_http_requests_total{series}")), count, "{series}");
    }
    assert!(sample(&text, "mxmod_events_stored_total") >= 1);
}
