//! Behaviour tests of `auto_accept_invite`, after the original module's test suite. Time
//! is paused, so the retry back-off (1 + 2 + 4 + 8 s) passes instantly.

use std::{sync::Arc, time::Duration};

use mxmod::{
    testing::{eventually, Harness, MembershipCall, TestHost},
    types::{Event, Membership, StateMap},
};
use serde_json::{json, Value};

/// The modules of `yaml`, calling `host`.
fn harness(yaml: &str, host: Arc<TestHost>) -> Harness {
    Harness::builder(yaml).host(host).start().unwrap()
}

const INVITER: &str = "@peter:example.com";
const INVITEE: &str = "@lesley:example.com";
const REMOTE: &str = "@thomas:remote.org";
const ROOM: &str = "!the:example.com";

fn yaml(config: &str) -> String {
    format!("modules:\n  - module: auto_accept_invite\n    config: {{{config}}}\n")
}

fn event(sender: &str, kind: &str, state_key: Option<&str>, content: Value) -> Event {
    serde_json::from_value(json!({
        "event_id": "$invite", "room_id": ROOM, "sender": sender, "type": kind, "state_key": state_key,
        "content": content, "origin_server_ts": 1
    }))
    .unwrap()
}

fn invite(sender: &str, invitee: &str, content: Value) -> Event {
    event(sender, "m.room.member", Some(invitee), content)
}

fn join_call(user: &str) -> MembershipCall {
    MembershipCall {
        sender: user.try_into().unwrap(),
        target: user.try_into().unwrap(),
        room_id: ROOM.try_into().unwrap(),
        membership: Membership::Join,
    }
}

/// Delivers `event` to the module as the server would after storing it.
async fn deliver(harness: &Harness, event: &Event) {
    harness.callbacks().third_party_rules.on_new_event(event, &StateMap::new()).await.unwrap();
}

/// Lets background work run for a (virtual) minute; returns the membership calls made.
async fn settle(host: &Arc<TestHost>) -> Vec<MembershipCall> {
    tokio::time::sleep(Duration::from_secs(60)).await;
    host.membership_calls()
}

#[tokio::test(start_paused = true)]
async fn an_invite_for_a_local_user_is_accepted() {
    let host = TestHost::new();
    let harness = harness(&yaml(""), host.clone());
    deliver(&harness, &invite(INVITER, INVITEE, json!({"membership": "invite"}))).await;
    assert_eq!(settle(&host).await, vec![join_call(INVITEE)]);
    assert_eq!(host.account_data_of(INVITEE, "m.direct"), None, "not a DM: account data untouched");
}

#[tokio::test(start_paused = true)]
async fn a_failing_join_is_retried_until_it_succeeds() {
    let host = TestHost::new();
    host.fail_next_memberships(2);
    let harness = harness(&yaml(""), host.clone());
    let started = tokio::time::Instant::now();
    deliver(&harness, &invite(INVITER, INVITEE, json!({"membership": "invite"}))).await;
    assert!(eventually(Duration::from_secs(30), || host.membership_calls().len() == 3).await);
    // No wait before the first attempt, then 1 s and 2 s.
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(3) && waited < Duration::from_secs(4), "{waited:?}");
    assert_eq!(settle(&host).await, vec![join_call(INVITEE); 3]);
}

#[tokio::test(start_paused = true)]
async fn a_join_that_keeps_failing_is_given_up_after_five_attempts() {
    let host = TestHost::new();
    host.fail_next_memberships(100);
    let harness = harness(&yaml(""), host.clone());
    deliver(&harness, &invite(INVITER, INVITEE, json!({"membership": "invite"}))).await;
    assert_eq!(settle(&host).await, vec![join_call(INVITEE); 5]);
}

#[tokio::test(start_paused = true)]
async fn a_dm_invite_is_recorded_in_m_direct_next_to_existing_entries() {
    let host = TestHost::new();
    host.put_account_data(INVITEE, "m.direct", json!({"@someone:random.org": ["!somewhere:random.org"]}));
    let harness = harness(&yaml(""), host.clone());
    deliver(&harness, &invite(INVITER, INVITEE, json!({"membership": "invite", "is_direct": true}))).await;
    assert_eq!(
        Value::Object(host.account_data_of(INVITEE, "m.direct").unwrap()),
        json!({"@someone:random.org": ["!somewhere:random.org"], INVITER: [ROOM]})
    );
    assert_eq!(settle(&host).await, vec![join_call(INVITEE)]);

    // A second DM room with the same user is appended.
    host.put_account_data(INVITEE, "m.direct", json!({ INVITER: ["!older:example.com"] }));
    deliver(&harness, &invite(INVITER, INVITEE, json!({"membership": "invite", "is_direct": true}))).await;
    assert_eq!(
        Value::Object(host.account_data_of(INVITEE, "m.direct").unwrap()),
        json!({ INVITER: ["!older:example.com", ROOM] })
    );
}

#[tokio::test(start_paused = true)]
async fn m_direct_entries_that_are_not_lists_are_left_alone() {
    let host = TestHost::new();
    host.put_account_data(INVITEE, "m.direct", json!({ INVITER: "!weird:example.com" }));
    let harness = harness(&yaml(""), host.clone());
    deliver(&harness, &invite(INVITER, INVITEE, json!({"membership": "invite", "is_direct": true}))).await;
    assert_eq!(
        Value::Object(host.account_data_of(INVITEE, "m.direct").unwrap()),
        json!({ INVITER: "!weird:example.com" })
    );
    assert_eq!(settle(&host).await, vec![join_call(INVITEE)], "the invite is still accepted");
}

#[tokio::test(start_paused = true)]
async fn invites_for_remote_users_and_other_events_are_ignored() {
    let host = TestHost::new();
    let harness = harness(&yaml(""), host.clone());
    deliver(&harness, &invite(INVITER, REMOTE, json!({"membership": "invite"}))).await;
    // Not a state event.
    deliver(&harness, &event(INVITER, "m.room.member", None, json!({"membership": "invite"}))).await;
    // Not an invite.
    deliver(&harness, &invite(INVITER, INVITER, json!({"membership": "join"}))).await;
    // Not a membership event.
    deliver(&harness, &event(INVITER, "org.matrix.test", Some(INVITEE), json!({"membership": "invite"}))).await;
    assert_eq!(settle(&host).await, vec![]);
}

#[tokio::test(start_paused = true)]
async fn invites_from_remote_users_are_accepted_by_default() {
    let host = TestHost::new();
    let harness = harness(&yaml(""), host.clone());
    deliver(&harness, &invite(REMOTE, INVITEE, json!({"membership": "invite"}))).await;
    assert_eq!(settle(&host).await, vec![join_call(INVITEE)]);
}

#[tokio::test(start_paused = true)]
async fn dm_only_accepts_invites_whose_is_direct_is_true() {
    let host = TestHost::new();
    let harness = harness(&yaml("accept_invites_only_for_direct_messages: true"), host.clone());
    deliver(&harness, &invite(INVITER, INVITEE, json!({"membership": "invite"}))).await;
    deliver(&harness, &invite(INVITER, INVITEE, json!({"membership": "invite", "is_direct": "yes"}))).await;
    assert_eq!(settle(&host).await, vec![]);
    assert_eq!(host.account_data_of(INVITEE, "m.direct"), None);
    deliver(&harness, &invite(INVITER, INVITEE, json!({"membership": "invite", "is_direct": true}))).await;
    assert_eq!(settle(&host).await, vec![join_call(INVITEE)]);
}

#[tokio::test(start_paused = true)]
async fn local_only_ignores_invites_from_remote_users() {
    let host = TestHost::new();
    let harness = harness(&yaml("accept_invites_only_from_local_users: true"), host.clone());
    deliver(&harness, &invite(REMOTE, INVITEE, json!({"membership": "invite", "is_direct": true}))).await;
    assert_eq!(settle(&host).await, vec![]);
    assert_eq!(host.account_data_of(INVITEE, "m.direct"), None);
    deliver(&harness, &invite(INVITER, INVITEE, json!({"membership": "invite", "is_direct": true}))).await;
    assert_eq!(settle(&host).await, vec![join_call(INVITEE)]);
}

#[test]
fn workers_cannot_be_chosen() {
    let error = Harness::from_yaml(&yaml("worker_to_run_on: worker1")).unwrap_err().to_string();
    assert!(error.contains("modules[0].config.worker_to_run_on"), "{error}");
    assert!(error.contains("no workers"), "{error}");
    assert!(Harness::from_yaml(&yaml("worker_to_run_on: null")).is_ok());
    assert!(Harness::from_yaml("modules:\n  - module: auto_accept_invite\n").is_ok());
}
