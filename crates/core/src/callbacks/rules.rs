//! The combination rules of `SYNAPSE.md` §3.0, each written once: how the answers of the
//! modules implementing one callback combine, in YAML order.

use std::{
    collections::{HashMap, HashSet},
    ops::ControlFlow,
};

use crate::{
    callbacks::{
        outcome::{EventAllowed, InterestedUsers, RegistrationBehaviour, SpamCheck},
        CallbackSpec,
    },
    error::MatrixError,
    types::{JsonObject, OwnedUserId, UserPresenceState},
};

/// What an `on_error: deny` module counts as answering when its callback fails.
pub enum Forced<V> {
    /// This answer, folded like a real one.
    Value(V),
    /// The request fails with the callback's failure error.
    Fail,
    /// The module is skipped (rules where "deny" has no meaning).
    Skip,
}

/// A combination rule: folds module answers in order; `Break` ends the chain early.
pub trait Rule {
    /// What one module answers.
    type Value;
    /// What the chain answers.
    type Output;
    /// The running state, starting at its default.
    type State: Default;
    /// Folds one module's answer.
    fn fold(
        state: &mut Self::State,
        value: Self::Value,
        spec: &CallbackSpec,
    ) -> ControlFlow<Result<Self::Output, MatrixError>>;
    /// The chain's answer when no module stopped it.
    fn finish(state: Self::State) -> Self::Output;
    /// The answer a failing `on_error: deny` module stands for.
    fn forced_deny() -> Forced<Self::Value>;
}

/// FIRST-DENY over [`SpamCheck`]: the first non-`NOT_SPAM` answer is the client's error.
pub enum FirstDeny {}

impl Rule for FirstDeny {
    type Value = SpamCheck;
    type Output = ();
    type State = ();
    #[inline]
    fn fold(_: &mut (), value: SpamCheck, spec: &CallbackSpec) -> ControlFlow<Result<(), MatrixError>> {
        match value.into_error(&spec.deny) {
            None => ControlFlow::Continue(()),
            Some(error) => ControlFlow::Break(Err(error)),
        }
    }
    #[inline]
    fn finish((): ()) {}
    fn forced_deny() -> Forced<SpamCheck> {
        Forced::Value(SpamCheck::Deny(crate::ErrCode::FORBIDDEN))
    }
}

/// FIRST-DENY over booleans (third-party-rules checks): the first `false` denies.
pub enum FirstFalse {}

impl Rule for FirstFalse {
    type Value = bool;
    type Output = ();
    type State = ();
    #[inline]
    fn fold(_: &mut (), allowed: bool, spec: &CallbackSpec) -> ControlFlow<Result<(), MatrixError>> {
        if allowed {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(Err(spec.deny.error()))
        }
    }
    #[inline]
    fn finish((): ()) {}
    fn forced_deny() -> Forced<bool> {
        Forced::Value(false)
    }
}

/// FIRST-TRUTHY over booleans (`check_username_for_spam`, `should_drop_federated_event`):
/// the first `true` wins and is the answer.
pub enum FirstTrue {}

impl Rule for FirstTrue {
    type Value = bool;
    type Output = bool;
    type State = ();
    #[inline]
    fn fold(_: &mut (), flagged: bool, _: &CallbackSpec) -> ControlFlow<Result<bool, MatrixError>> {
        if flagged {
            ControlFlow::Break(Ok(true))
        } else {
            ControlFlow::Continue(())
        }
    }
    #[inline]
    fn finish((): ()) -> bool {
        false
    }
    fn forced_deny() -> Forced<bool> {
        Forced::Value(true)
    }
}

/// FIRST-NON-ALLOW over [`RegistrationBehaviour`]: `DENY` is the error (429 `M_UNKNOWN`),
/// `SHADOW_BAN` is the answer.
pub enum FirstNonAllow {}

impl Rule for FirstNonAllow {
    type Value = RegistrationBehaviour;
    type Output = RegistrationBehaviour;
    type State = ();
    #[inline]
    fn fold(
        _: &mut (),
        value: RegistrationBehaviour,
        spec: &CallbackSpec,
    ) -> ControlFlow<Result<RegistrationBehaviour, MatrixError>> {
        match value {
            RegistrationBehaviour::Allow => ControlFlow::Continue(()),
            RegistrationBehaviour::ShadowBan => ControlFlow::Break(Ok(RegistrationBehaviour::ShadowBan)),
            RegistrationBehaviour::Deny => ControlFlow::Break(Err(spec.deny.error())),
        }
    }
    #[inline]
    fn finish((): ()) -> RegistrationBehaviour {
        RegistrationBehaviour::Allow
    }
    fn forced_deny() -> Forced<RegistrationBehaviour> {
        Forced::Value(RegistrationBehaviour::Deny)
    }
}

/// `check_event_allowed`: the first deny or the first replacement ends the chain.
pub enum FirstDenyOrReplace {}

impl Rule for FirstDenyOrReplace {
    type Value = EventAllowed;
    type Output = Option<JsonObject>;
    type State = ();
    #[inline]
    fn fold(
        _: &mut (),
        value: EventAllowed,
        spec: &CallbackSpec,
    ) -> ControlFlow<Result<Option<JsonObject>, MatrixError>> {
        match value {
            EventAllowed::Allow => ControlFlow::Continue(()),
            EventAllowed::Deny => ControlFlow::Break(Err(spec.deny.error())),
            EventAllowed::Replace(event) => ControlFlow::Break(Ok(Some(event))),
        }
    }
    #[inline]
    fn finish((): ()) -> Option<JsonObject> {
        None
    }
    fn forced_deny() -> Forced<EventAllowed> {
        Forced::Value(EventAllowed::Deny)
    }
}

/// FIRST-VALUE (`is_user_expired`): the first `Some` decides; later modules are not asked.
pub enum FirstValue {}

impl Rule for FirstValue {
    type Value = Option<bool>;
    type Output = Option<bool>;
    type State = ();
    #[inline]
    fn fold(_: &mut (), value: Option<bool>, _: &CallbackSpec) -> ControlFlow<Result<Option<bool>, MatrixError>> {
        match value {
            Some(decided) => ControlFlow::Break(Ok(Some(decided))),
            None => ControlFlow::Continue(()),
        }
    }
    #[inline]
    fn finish((): ()) -> Option<bool> {
        None
    }
    fn forced_deny() -> Forced<Option<bool>> {
        Forced::Value(Some(true))
    }
}

/// ALL (notifications): every module is called in order; answers are ignored.
pub enum All {}

impl Rule for All {
    type Value = ();
    type Output = ();
    type State = ();
    #[inline]
    fn fold((): &mut (), (): (), _: &CallbackSpec) -> ControlFlow<Result<(), MatrixError>> {
        ControlFlow::Continue(())
    }
    #[inline]
    fn finish((): ()) {}
    fn forced_deny() -> Forced<()> {
        Forced::Fail
    }
}

/// UNION (`get_users_for_states`): every module's map is merged per user by set union.
pub enum UnionByUser {}

/// Presence updates routed to each user.
pub type PresenceRouting = HashMap<OwnedUserId, HashSet<UserPresenceState>>;

impl Rule for UnionByUser {
    type Value = PresenceRouting;
    type Output = PresenceRouting;
    type State = PresenceRouting;
    #[inline]
    fn fold(
        state: &mut PresenceRouting,
        value: PresenceRouting,
        _: &CallbackSpec,
    ) -> ControlFlow<Result<PresenceRouting, MatrixError>> {
        for (user, updates) in value {
            state.entry(user).or_default().extend(updates);
        }
        ControlFlow::Continue(())
    }
    #[inline]
    fn finish(state: PresenceRouting) -> PresenceRouting {
        state
    }
    fn forced_deny() -> Forced<PresenceRouting> {
        Forced::Skip
    }
}

/// UNION (`get_interested_users`): sets are merged; the first `All` short-circuits.
pub enum UnionUsers {}

impl Rule for UnionUsers {
    type Value = InterestedUsers;
    type Output = InterestedUsers;
    type State = HashSet<OwnedUserId>;
    #[inline]
    fn fold(
        state: &mut HashSet<OwnedUserId>,
        value: InterestedUsers,
        _: &CallbackSpec,
    ) -> ControlFlow<Result<InterestedUsers, MatrixError>> {
        match value {
            InterestedUsers::All => ControlFlow::Break(Ok(InterestedUsers::All)),
            InterestedUsers::Users(users) => {
                state.extend(users);
                ControlFlow::Continue(())
            }
        }
    }
    #[inline]
    fn finish(state: HashSet<OwnedUserId>) -> InterestedUsers {
        InterestedUsers::Users(state)
    }
    fn forced_deny() -> Forced<InterestedUsers> {
        Forced::Skip
    }
}

/// FIRST-VALUE over `Option<T>` (password auth checkers, registration names, rate-limit
/// and media overrides): the first `Some` is the answer; later modules are not asked.
pub struct FirstSome<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Rule for FirstSome<T> {
    type Value = Option<T>;
    type Output = Option<T>;
    type State = ();
    #[inline]
    fn fold(_: &mut (), value: Option<T>, _: &CallbackSpec) -> ControlFlow<Result<Option<T>, MatrixError>> {
        match value {
            Some(found) => ControlFlow::Break(Ok(Some(found))),
            None => ControlFlow::Continue(()),
        }
    }
    #[inline]
    fn finish((): ()) -> Option<T> {
        None
    }
    fn forced_deny() -> Forced<Option<T>> {
        Forced::Skip
    }
}

/// UNION of lists (the login types password auth providers declare): every module's
/// list, in YAML order.
pub struct Concat<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Rule for Concat<T> {
    type Value = Vec<T>;
    type Output = Vec<T>;
    type State = Vec<T>;
    #[inline]
    fn fold(state: &mut Vec<T>, value: Vec<T>, _: &CallbackSpec) -> ControlFlow<Result<Vec<T>, MatrixError>> {
        state.extend(value);
        ControlFlow::Continue(())
    }
    #[inline]
    fn finish(state: Vec<T>) -> Vec<T> {
        state
    }
    fn forced_deny() -> Forced<Vec<T>> {
        Forced::Skip
    }
}

/// UNION of objects (`add_field_to_unsigned_callback`): every module's fields, merged in
/// YAML order, a later module's key replacing an earlier one's.
pub enum MergeObjects {}

impl Rule for MergeObjects {
    type Value = JsonObject;
    type Output = JsonObject;
    type State = JsonObject;
    #[inline]
    fn fold(
        state: &mut JsonObject,
        value: JsonObject,
        _: &CallbackSpec,
    ) -> ControlFlow<Result<JsonObject, MatrixError>> {
        state.extend(value);
        ControlFlow::Continue(())
    }
    #[inline]
    fn finish(state: JsonObject) -> JsonObject {
        state
    }
    fn forced_deny() -> Forced<JsonObject> {
        Forced::Skip
    }
}
