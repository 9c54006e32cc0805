//! Behaviour tests of `domain_rule_checker`, after the original module's test suite.

use std::sync::Arc;

use mxmod::{
    testing::{Harness, TestHost},
    types::{Membership, OwnedRoomId, RoomId, UserId},
};

/// The modules of `yaml`, calling `host`.
fn harness(yaml: &str, host: Arc<TestHost>) -> Harness {
    Harness::builder(yaml).host(host).start().unwrap()
}

const ROOM: &str = "!r:example.com";
const CREATOR: &str = "@creator:example.com";

/// The room `!r:example.com`: new (only the creator joined) unless `new_room` is off,
/// in which case someone else joined; published if asked; absent if `unknown_room`.
fn host(new_room: bool, published: bool, unknown_room: bool) -> (Arc<TestHost>, OwnedRoomId) {
    let host = TestHost::new();
    if unknown_room {
        return (host, RoomId::parse(ROOM).unwrap());
    }
    let room = host.create_room(ROOM, CREATOR);
    host.set_membership(&room, CREATOR, "@invited:example.com", Membership::Invite);
    if !new_room {
        host.set_membership(&room, "@joiner:example.com", "@joiner:example.com", Membership::Join);
    }
    if published {
        host.publish(&room);
    }
    (host, room)
}

fn yaml(config: &str) -> String {
    let indented: String = config.lines().map(|line| format!("      {line}\n")).collect();
    format!("modules:\n  - module: domain_rule_checker\n    config:\n{indented}")
}

/// Whether `inviter` may invite `invitee` (`None`: a 3PID invite).
async fn may_invite(config: &str, inviter: &str, invitee: Option<&str>, new_room: bool, published: bool) -> bool {
    may_invite_in(config, inviter, invitee, host(new_room, published, false)).await
}

async fn may_invite_in(
    config: &str,
    inviter: &str,
    invitee: Option<&str>,
    (host, room): (Arc<TestHost>, OwnedRoomId),
) -> bool {
    let harness = harness(&yaml(config), host);
    let spam = &harness.callbacks().spam_checker;
    let inviter = UserId::parse(inviter).unwrap();
    let answer = match invitee {
        Some(invitee) => spam.user_may_invite(&inviter, &UserId::parse(invitee).unwrap(), &room).await,
        None => spam.user_may_send_3pid_invite(&inviter, "email", "a@b.org", &room).await,
    };
    match answer {
        Ok(()) => true,
        Err(error) => {
            assert_eq!((error.status, error.errcode.as_str()), (403, "M_FORBIDDEN"));
            false
        }
    }
}

const MAPPING: &str = "\
can_invite_if_not_in_domain_mapping: false
domain_mapping:
  source1.org: [target1.org, target2.org]
  source2.org: [target2.org]
domains_prevented_from_being_invited_to_published_rooms: [target2.org]";

#[tokio::test]
async fn the_mapping_allows_listed_domains() {
    assert!(may_invite(MAPPING, "@test:source1.org", Some("@test:target1.org"), false, false).await);
    assert!(may_invite(MAPPING, "@test:source1.org", Some("@test:target2.org"), false, false).await);
    assert!(may_invite(MAPPING, "@test:source2.org", Some("@test:target2.org"), false, false).await);
    // A domain not in the prevented list may be invited to a published room.
    assert!(may_invite(MAPPING, "@test:source1.org", Some("@test1:target1.org"), false, true).await);
}

#[tokio::test]
async fn the_mapping_refuses_unlisted_domains_and_published_rooms_refuse_prevented_ones() {
    let config = "\
can_invite_if_not_in_domain_mapping: true
domain_mapping:
  source1.org: [target1.org, target2.org]
  source2.org: [target2.org]
  source4.org: []
domains_prevented_from_being_invited_to_published_rooms: [target2.org]";
    assert!(!may_invite(config, "@test:source1.org", Some("@test:target3.org"), false, false).await);
    assert!(!may_invite(config, "@test:source2.org", Some("@test:target3.org"), false, false).await);
    assert!(!may_invite(config, "@test:source2.org", Some("@test:target1.org"), false, false).await);
    assert!(!may_invite(config, "@test:source4.org", Some("@test:target1.org"), false, false).await);
    assert!(!may_invite(config, "@test:source1.org", Some("@test:target2.org"), false, true).await);
    // Not published: the mapping decides.
    assert!(may_invite(config, "@test:source1.org", Some("@test:target2.org"), false, false).await);
}

#[tokio::test]
async fn inviters_outside_the_mapping_get_the_configured_answer() {
    let allow = "\
can_invite_if_not_in_domain_mapping: true
domain_mapping:
  source1.org: [target1.org]";
    assert!(may_invite(allow, "@test:source3.org", Some("@test:target1.org"), false, false).await);
    let deny = allow.replace("true", "false");
    assert!(!may_invite(&deny, "@test:source3.org", Some("@test:target1.org"), false, false).await);
    // No mapping at all.
    assert!(may_invite("can_invite_if_not_in_domain_mapping: true", "@a:x.org", Some("@b:y.org"), false, false).await);
    assert!(
        !may_invite("can_invite_if_not_in_domain_mapping: false", "@a:x.org", Some("@b:y.org"), false, false).await
    );
}

#[tokio::test]
async fn regex_mappings_match_whole_domains() {
    let allow = "\
can_invite_if_not_in_domain_mapping: false
use_regex: true
domain_mapping:
  source1\\.org: ['target(1|2)\\.org']
  source2\\.org: ['.*2\\.org']
domains_prevented_from_being_invited_to_published_rooms: ['target2\\.org']";
    assert!(may_invite(allow, "@test:source1.org", Some("@test:target1.org"), false, false).await);
    assert!(may_invite(allow, "@test:source1.org", Some("@test:target2.org"), false, false).await);
    assert!(may_invite(allow, "@test:source2.org", Some("@test:target2.org"), false, false).await);
    assert!(may_invite(allow, "@test:source1.org", Some("@test1:target1.org"), false, true).await);
    // Whole-domain matches only: `target1.org` does not match `xtarget1.org`.
    assert!(!may_invite(allow, "@test:source1.org", Some("@test:xtarget1.org"), false, false).await);

    let deny = "\
can_invite_if_not_in_domain_mapping: true
use_regex: true
domain_mapping:
  'source(1|2)\\.org': ['target2\\.org']
  source4\\.org: []
domains_prevented_from_being_invited_to_published_rooms: ['target2\\.org']";
    assert!(!may_invite(deny, "@test:source1.org", Some("@test:target3.org"), false, false).await);
    assert!(!may_invite(deny, "@test:source2.org", Some("@test:target1.org"), false, false).await);
    assert!(!may_invite(deny, "@test:source4.org", Some("@test:target1.org"), false, false).await);
    assert!(!may_invite(deny, "@test:source1.org", Some("@test:target2.org"), false, true).await);
    assert!(may_invite(deny, "@test:source3.org", Some("@test:target1.org"), false, false).await);
}

#[tokio::test]
async fn third_party_invites_follow_their_flag() {
    let denied = "can_invite_if_not_in_domain_mapping: false\ncan_invite_by_third_party_id: false";
    assert!(!may_invite(denied, "@test:source1.org", None, false, false).await);
    let allowed = "can_invite_if_not_in_domain_mapping: false\ncan_invite_by_third_party_id: true";
    assert!(may_invite(allowed, "@test:source1.org", None, false, false).await);
    // The default is true, and the mapping is not consulted for 3PID invites.
    assert!(may_invite("can_invite_if_not_in_domain_mapping: false", "@test:source1.org", None, false, false).await);
}

#[tokio::test]
async fn a_3pid_invite_is_refused_with_its_own_message() {
    let harness = harness(
        &yaml("can_invite_if_not_in_domain_mapping: true\ncan_invite_by_third_party_id: false"),
        host(true, false, false).0,
    );
    let alice = UserId::parse("@alice:example.com").unwrap();
    let room = RoomId::parse(ROOM).unwrap();
    let error = harness.callbacks().spam_checker.user_may_send_3pid_invite(&alice, "email", "a@b.org", &room).await;
    assert_eq!(error.unwrap_err().error, "Cannot send threepid invite");
}

#[tokio::test]
async fn local_invites_are_only_allowed_while_the_room_looks_new() {
    let config = "can_invite_if_not_in_domain_mapping: true\ncan_only_invite_during_room_creation: true";
    let (alice, bob) = ("@alice:example.com", Some("@bob:example.com"));
    assert!(may_invite(config, alice, bob, true, false).await);
    assert!(!may_invite(config, alice, bob, false, false).await);
    // Applies to 3PID invites too.
    assert!(may_invite(config, alice, None, true, false).await);
    assert!(!may_invite(config, alice, None, false, false).await);
    // Without the option, an old room is fine.
    assert!(may_invite("can_invite_if_not_in_domain_mapping: true", alice, bob, false, false).await);
}

#[tokio::test]
async fn invites_sent_by_the_creator_keep_the_room_new() {
    let config = "can_invite_if_not_in_domain_mapping: true\ncan_only_invite_during_room_creation: true";
    let (host, room) = host(true, false, false);
    // The creator invited someone who then joined: a join sent by that user, not the
    // creator, so the room no longer looks new.
    host.set_membership(&room, CREATOR, "@friend:example.com", Membership::Invite);
    assert!(may_invite_in(config, CREATOR, Some("@bob:example.com"), (host.clone(), room.clone())).await);
    host.set_membership(&room, "@friend:example.com", "@friend:example.com", Membership::Join);
    assert!(!may_invite_in(config, CREATOR, Some("@bob:example.com"), (host, room)).await);
}

#[tokio::test]
async fn an_unknown_room_does_not_look_new_but_remote_inviters_are_not_checked() {
    let config = "can_invite_if_not_in_domain_mapping: true\ncan_only_invite_during_room_creation: true";
    let local = "@test:example.com";
    assert!(!may_invite_in(config, local, Some("@test2:example.com"), host(false, false, true)).await);
    let remote = "@test:source2.org";
    assert!(may_invite_in(config, remote, Some("@test2:example.com"), host(false, false, true)).await);
}

#[tokio::test]
async fn joins_need_an_invite_only_when_configured() {
    let room = RoomId::parse(ROOM).unwrap();
    let user = UserId::parse("@a:example.com").unwrap();
    let strict = harness(
        &yaml("can_invite_if_not_in_domain_mapping: false\ncan_only_join_rooms_with_invite: true"),
        TestHost::new(),
    );
    let spam = &strict.callbacks().spam_checker;
    spam.user_may_join_room(&user, &room, true).await.unwrap();
    let error = spam.user_may_join_room(&user, &room, false).await.unwrap_err();
    assert_eq!((error.status, error.error.as_str()), (403, "Not allowed to join this room"));

    let open = harness(&yaml("can_invite_if_not_in_domain_mapping: false"), TestHost::new());
    open.callbacks().spam_checker.user_may_join_room(&user, &room, true).await.unwrap();
    open.callbacks().spam_checker.user_may_join_room(&user, &room, false).await.unwrap();
}

#[test]
fn can_invite_if_not_in_domain_mapping_is_required() {
    let error = Harness::from_yaml(&yaml("domain_mapping:\n  source1.org: [target1.org]")).unwrap_err().to_string();
    assert!(error.contains("modules[0].config"), "{error}");
    assert!(error.contains("`can_invite_if_not_in_domain_mapping` is required"), "{error}");
    let absent = Harness::from_yaml("modules:\n  - module: domain_rule_checker\n").unwrap_err().to_string();
    assert!(absent.contains("`can_invite_if_not_in_domain_mapping` is required"), "{absent}");
}

#[test]
fn bad_patterns_and_unknown_keys_are_config_errors() {
    let error = Harness::from_yaml(&yaml(
        "can_invite_if_not_in_domain_mapping: true\nuse_regex: true\ndomain_mapping:\n  a.org: ['(unclosed']",
    ))
    .unwrap_err()
    .to_string();
    assert!(error.contains("modules[0].config.domain_mapping.a.org[0]"), "{error}");
    assert!(error.contains("not a valid regular expression"), "{error}");
    // Without `use_regex` the same text is a plain domain name.
    let plain = yaml("can_invite_if_not_in_domain_mapping: true\ndomain_mapping:\n  a.org: ['(unclosed']");
    assert!(Harness::from_yaml(&plain).is_ok());
    let unknown =
        Harness::from_yaml(&yaml("can_invite_if_not_in_domain_mapping: true\nworker: x")).unwrap_err().to_string();
    assert!(unknown.contains("worker"), "{unknown}");
}
