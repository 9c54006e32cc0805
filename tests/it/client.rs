//! A real Matrix client library that nobody here wrote (matrix-sdk) against the server:
//! register, log in, create a room, send, get `M_FORBIDDEN` for a denied send, and see a
//! module's rewrite in `/sync`; log in with a module's own login type.

use matrix_sdk::{
    config::SyncSettings,
    ruma::{
        api::client::{account::register::v3::Request as RegistrationRequest, room::create_room, uiaa},
        events::{room::message::RoomMessageEventContent, AnySyncMessageLikeEvent, AnySyncTimelineEvent},
        OwnedRoomId,
    },
    Client,
};
use serde_json::json;

use crate::{
    categories::devture_token,
    support::{config_with_modules, Server},
};

async fn client(base: &str) -> Client {
    Client::builder().homeserver_url(base).build().await.expect("a client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_sdk_registers_sends_is_denied_and_sees_the_rewrite() {
    let server = tokio::task::spawn_blocking(|| {
        Server::start_policy("      uppercase_bodies: true\n      forbidden_event_types: [org.example.forbidden]\n")
    })
    .await
    .unwrap();

    let first = client(&server.base).await;
    let mut registration = RegistrationRequest::new();
    registration.username = Some("sdkuser".to_owned());
    registration.password = Some("sdk-password".to_owned());
    registration.auth = Some(uiaa::AuthData::Dummy(uiaa::Dummy::new()));
    let registered = first.matrix_auth().register(registration).await.expect("registration");
    assert_eq!(registered.user_id.as_str(), "@sdkuser:test.local");

    let sdk = client(&server.base).await;
    sdk.matrix_auth().login_username("sdkuser", "sdk-password").send().await.expect("login");
    assert_eq!(sdk.user_id().map(|u| u.as_str()), Some("@sdkuser:test.local"));

    let room = sdk.create_room(create_room::v3::Request::new()).await.expect("room creation");
    let room_id: OwnedRoomId = room.room_id().to_owned();
    let sent = room.send(RoomMessageEventContent::text_plain("quiet words")).await.expect("a send");

    let denied = room.send_raw("org.example.forbidden", json!({ "x": 1 })).await.expect_err("the module denies it");
    let api_error = denied.as_client_api_error().expect("a Matrix error");
    assert_eq!(api_error.status_code.as_u16(), 403);
    assert!(format!("{denied:?}").contains("Forbidden"), "{denied:?}");

    let response = sdk.sync_once(SyncSettings::default()).await.expect("a sync");
    let joined = response.rooms.joined.get(&room_id).expect("the room is in the sync");
    let bodies: Vec<String> = joined
        .timeline
        .events
        .iter()
        .filter_map(|event| match event.raw().deserialize() {
            Ok(AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(message))) => {
                message.as_original().map(|m| m.content.body().to_owned())
            }
            _ => None,
        })
        .collect();
    assert_eq!(bodies, ["QUIET WORDS"], "the module's rewrite reached the client (event {})", sent.event_id);
}

/// `shared_secret_auth`'s login type, as a client logs in with it: matrix-sdk's custom
/// login, then an authenticated request on the session it got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_sdk_logs_in_with_the_shared_secret_auth_login_type() {
    let modules = "  - module: shared_secret_auth\n    config:\n      shared_secret: 'a very secret secret'\n";
    let server = tokio::task::spawn_blocking(move || {
        let server = Server::start(&config_with_modules(modules));
        server.register("sharer");
        server
    })
    .await
    .unwrap();
    let user = "@sharer:test.local";

    let sdk = client(&server.base).await;
    let data = json!({
        "identifier": { "type": "m.id.user", "user": user },
        "token": devture_token("a very secret secret", user),
    });
    let serde_json::Value::Object(data) = data else { unreachable!("an object literal") };
    let login = sdk.matrix_auth().login_custom("com.devture.shared_secret_auth", data).expect("a login request");
    login.send().await.expect("the module's login type logs in");
    assert_eq!(sdk.user_id().map(|u| u.as_str()), Some(user));
    let whoami = sdk.whoami().await.expect("the session works");
    assert_eq!(whoami.user_id.as_str(), user);

    let wrong = client(&server.base).await;
    let data = json!({
        "identifier": { "type": "m.id.user", "user": user },
        "token": devture_token("another secret", user),
    });
    let serde_json::Value::Object(data) = data else { unreachable!("an object literal") };
    let refused = wrong.matrix_auth().login_custom("com.devture.shared_secret_auth", data).unwrap().send().await;
    let error = refused.expect_err("a token made with another secret is refused");
    assert_eq!(error.as_client_api_error().map(|e| e.status_code.as_u16()), Some(403), "{error:?}");
}
