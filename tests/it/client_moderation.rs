//! matrix-sdk (a client library nobody here wrote) through the ephemeral and moderation
//! flow: typing and a read receipt reach the other client through its sync; one client
//! redacts the other's message, kicks, bans and unbans them.

use std::time::Duration;

use matrix_sdk::{
    config::SyncSettings,
    room::Room,
    ruma::{
        api::client::{
            account::register::v3::Request as RegistrationRequest,
            receipt::create_receipt::v3::ReceiptType as CreateReceiptType,
            room::{create_room, Visibility},
            uiaa,
        },
        events::{
            receipt::{ReceiptThread, ReceiptType},
            room::message::RoomMessageEventContent,
            AnySyncEphemeralRoomEvent, AnySyncMessageLikeEvent, AnySyncTimelineEvent,
        },
        OwnedRoomId, OwnedUserId,
    },
    sync::SyncResponse,
    Client,
};

use crate::support::{config_with_modules, Server};

async fn registered(base: &str, name: &str) -> Client {
    let client = Client::builder().homeserver_url(base).build().await.expect("a client");
    let mut registration = RegistrationRequest::new();
    registration.username = Some(name.to_owned());
    registration.password = Some("sdk-password".to_owned());
    registration.auth = Some(uiaa::AuthData::Dummy(uiaa::Dummy::new()));
    client.matrix_auth().register(registration).await.expect("registration");
    client
}

/// Syncs (long-polling) until `seen` holds for a response, at most 20 rounds.
async fn sync_until(client: &Client, what: &str, mut seen: impl FnMut(&SyncResponse) -> bool) {
    for _ in 0..20 {
        let response = client.sync_once(SyncSettings::default().timeout(Duration::from_secs(2))).await.expect("a sync");
        if seen(&response) {
            return;
        }
    }
    panic!("the client never saw {what}");
}

fn ephemeral(response: &SyncResponse, room: &OwnedRoomId) -> Vec<AnySyncEphemeralRoomEvent> {
    response
        .rooms
        .joined
        .get(room)
        .map(|joined| joined.ephemeral.iter().filter_map(|raw| raw.deserialize().ok()).collect())
        .unwrap_or_default()
}

async fn join(client: &Client, room_id: &OwnedRoomId) -> matrix_sdk::Result<Room> {
    client.join_room_by_id(room_id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_sdk_sees_typing_and_receipts_and_moderates() {
    let server = tokio::task::spawn_blocking(|| Server::start(&config_with_modules("  []\n"))).await.unwrap();
    let alice = registered(&server.base, "sdkalice").await;
    let bob = registered(&server.base, "sdkbob").await;
    let alice_id: OwnedUserId = alice.user_id().unwrap().to_owned();
    let bob_id: OwnedUserId = bob.user_id().unwrap().to_owned();

    let mut request = create_room::v3::Request::new();
    request.visibility = Visibility::Public;
    request.preset = Some(create_room::v3::RoomPreset::PublicChat);
    let alice_room = alice.create_room(request).await.expect("room creation");
    let room_id = alice_room.room_id().to_owned();
    let bob_room = join(&bob, &room_id).await.expect("bob joins");
    alice.sync_once(SyncSettings::default()).await.expect("alice's first sync");
    bob.sync_once(SyncSettings::default()).await.expect("bob's first sync");

    // Typing reaches the other client.
    alice_room.typing_notice(true).await.expect("typing");
    sync_until(&bob, "alice typing", |response| {
        ephemeral(response, &room_id).iter().any(|event| match event {
            AnySyncEphemeralRoomEvent::Typing(typing) => typing.content.user_ids.contains(&alice_id),
            _ => false,
        })
    })
    .await;

    // A read receipt reaches the other client.
    let sent = bob_room.send(RoomMessageEventContent::text_plain("regrettable words")).await.expect("a send");
    let message_id = sent.event_id;
    alice_room
        .send_single_receipt(CreateReceiptType::Read, ReceiptThread::Unthreaded, message_id.clone())
        .await
        .expect("a receipt");
    sync_until(&bob, "alice's read receipt", |response| {
        ephemeral(response, &room_id).iter().any(|event| match event {
            AnySyncEphemeralRoomEvent::Receipt(receipt) => receipt
                .content
                .get(&message_id)
                .and_then(|receipts| receipts.get(&ReceiptType::Read))
                .is_some_and(|users| users.contains_key(&alice_id)),
            _ => false,
        })
    })
    .await;

    // Alice redacts Bob's message: Bob's sync carries the redaction, and the event now
    // reads back redacted.
    alice_room.redact(&message_id, Some("moderation"), None).await.expect("a redaction");
    sync_until(&bob, "the redaction", |response| {
        response.rooms.joined.get(&room_id).is_some_and(|joined| {
            joined.timeline.events.iter().any(|event| {
                matches!(
                    event.raw().deserialize(),
                    Ok(AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomRedaction(redaction)))
                        if redaction.as_original().and_then(|r| r.redacts.clone()).as_deref()
                            == Some(&*message_id)
                            || redaction.as_original().and_then(|r| r.content.redacts.clone()).as_deref()
                                == Some(&*message_id)
                )
            })
        })
    })
    .await;
    let fetched = bob_room.event(&message_id, None).await.expect("the event reads back");
    match fetched.raw().deserialize().expect("a timeline event") {
        AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(message)) => {
            assert!(message.as_original().is_none(), "the message is redacted");
        }
        other => panic!("unexpected event {other:?}"),
    }

    // Kick: Bob's sync shows him out; he may come back to the public room.
    alice_room.kick_user(&bob_id, Some("cool down")).await.expect("a kick");
    sync_until(&bob, "the kick", |response| response.rooms.left.contains_key(&room_id)).await;
    join(&bob, &room_id).await.expect("bob rejoins after a kick");

    // Ban: Bob cannot come back until unbanned.
    alice_room.ban_user(&bob_id, Some("enough")).await.expect("a ban");
    sync_until(&bob, "the ban", |response| response.rooms.left.contains_key(&room_id)).await;
    let refused = join(&bob, &room_id).await.expect_err("a banned user cannot join");
    let status = refused.as_client_api_error().map(|error| error.status_code.as_u16());
    assert_eq!(status, Some(403), "{refused:?}");
    alice_room.unban_user(&bob_id, None).await.expect("an unban");
    join(&bob, &room_id).await.expect("bob joins after the unban");
    alice.sync_once(SyncSettings::default()).await.expect("alice syncs");
    let members = alice_room.joined_user_ids().await.expect("members");
    assert!(members.contains(&bob_id), "{members:?}");
}
