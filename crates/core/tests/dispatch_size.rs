//! The size of what a dispatch builds. An unimplemented hook returns a ready answer
//! without making the chain's future at all. A registered chain's future (one
//! hand-written struct, `callbacks/chain.rs`) holds the hook, the arguments, and what its
//! first poll makes: the one call slot (`INLINE_FUTURE_BYTES` and two pointers), the
//! fold (the rule's state and room for an early end, a `MatrixError`), the entry index
//! and the guarded plan's timer (a `tokio::time::Sleep`, inline so that arming it
//! allocates nothing): 448 bytes for `user_may_invite` (three arguments) in a debug
//! build, against 736 when the chain was an `async fn` awaiting one future per entry.

use std::mem::size_of_val;

use mxmod::{
    __private::hook::{CallbackFuture, INLINE_FUTURE_BYTES},
    module, spam_checker,
    testing::Harness,
    types::{JsonObject, RoomId, UserId},
    Module, ModuleApi, ModuleError, SpamCheck,
};

struct Sized;

impl Module for Sized {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Sized)
    }
}

#[module(name = "dispatch_size")]
impl Sized {
    #[spam_checker]
    async fn user_may_invite(&self, _inviter: &UserId, _invitee: &UserId, _room: &RoomId) -> SpamCheck {
        SpamCheck::NOT_SPAM
    }
}

/// The largest dispatch future allowed: the call's slot, plus the chain's state
/// (arguments, index, fold) and the guarded plan's timer.
const MAX_DISPATCH_FUTURE_BYTES: usize = 448;

#[test]
fn a_callback_future_is_its_inline_buffer_and_two_pointers() {
    assert_eq!(INLINE_FUTURE_BYTES, 128);
    assert_eq!(std::mem::size_of::<CallbackFuture<'_, ()>>(), INLINE_FUTURE_BYTES + 2 * size_of::<usize>());
}

#[test]
fn dispatch_futures_are_small() {
    let (alice, bob) = (UserId::parse("@alice:example.com").unwrap(), UserId::parse("@bob:example.com").unwrap());
    let room = RoomId::parse("!room:example.com").unwrap();
    let config = JsonObject::new();
    let harness = Harness::from_yaml("modules:\n  - module: dispatch_size\n").unwrap();
    let callbacks = harness.callbacks();
    let invite = callbacks.spam_checker.user_may_invite(&alice, &bob, &room);
    let create_room = callbacks.spam_checker.user_may_create_room(&alice, &config);
    println!(
        "user_may_invite: {} bytes, user_may_create_room: {} bytes",
        size_of_val(&invite),
        size_of_val(&create_room)
    );
    assert!(size_of_val(&invite) <= MAX_DISPATCH_FUTURE_BYTES, "{} bytes", size_of_val(&invite));
    assert!(size_of_val(&create_room) <= MAX_DISPATCH_FUTURE_BYTES, "{} bytes", size_of_val(&create_room));
}
