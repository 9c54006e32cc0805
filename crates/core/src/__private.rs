//! What `#[module]`-generated code names. Not a stable API: module authors never use it.

use std::{
    any::Any,
    future::Future,
    marker::PhantomData,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use futures_util::FutureExt;
pub use linkme;

/// The shim constructors of every category, as `#[module]` names them:
/// `callbacks::spam_checker::user_may_create_room(shim)`.
pub use crate::callbacks::constructors as callbacks;
/// The dispatch future a dispatcher returns.
pub mod dispatch {
    pub use crate::callbacks::dispatch::Dispatch;
}
/// A chain's fold, and what a shim gets to start one call (the dispatch benchmark builds
/// them by hand).
pub mod fold {
    pub use crate::callbacks::fold::{FirstPoll, Fold, Step};
}
/// What the shim types name: the instance as the registry holds it, and a web
/// resource's inline future.
pub mod hook {
    pub use crate::callbacks::hook::{CallbackFuture, ModuleObject, INLINE_FUTURE_BYTES};
}
/// Where one callback call's future lives.
pub mod slot {
    pub use crate::callbacks::slot::CallSlot;
}
use crate::{
    api::ModuleApi,
    cache::CacheHandle,
    callbacks::{
        fold::{FirstPoll, Step},
        hook::{CallbackFuture, ModuleObject},
        rules::Rule,
    },
    error::{CallbackError, ModuleError},
    module::{InstantiateFn, Module, ParseConfigFn},
};

/// Wraps a callback method's future as a [`CallbackFuture`], without allocating when it
/// fits, its output normalised by [`CallbackReturn`].
///
/// The macro passes the method's own future (`Type::method(instance, args..)`), mapped
/// rather than wrapped in an `async` block, so the arguments are stored once. The answer
/// type `T` comes from the shim's fn-pointer type (the callback table), not from the
/// method, so a method returning the wrong type is an unmet [`CallbackReturn`] bound,
/// whose message names both types, on the method's return type.
#[inline(always)]
pub fn callback_future<'a, T, R, F>(future: F) -> CallbackFuture<'a, Result<T, CallbackError>>
where
    F: Future<Output = R> + Send + 'a,
    R: CallbackReturn<T> + 'a,
    T: 'a,
{
    CallbackFuture::from_or_box(FutureExt::map(future, R::into_answer))
}

/// Builds a callback method's future in the call's slot, polls it once there and folds
/// an answer into the chain (the body of every category callback's shim), its output
/// normalised by [`CallbackReturn`]. As with [`callback_future`], the answer type `T`
/// comes from the shim's type (the rule's `Value`).
#[inline(always)]
pub fn callback_start<'a, T, R, F, Ru>(future: F, first: FirstPoll<'_, 'a, Ru>, cx: &mut Context<'_>) -> Step
where
    F: Future<Output = R> + Send + 'a,
    R: CallbackReturn<T> + 'a,
    T: 'a,
    Ru: Rule<Value = T>,
{
    first.start(AnswerOf { future, answer: PhantomData }, cx)
}

pin_project_lite::pin_project! {
    /// A callback method's future with its output normalised by [`CallbackReturn`],
    /// polled inline (so that, in the shim, the answer goes from the method's poll to the
    /// rule's fold without a stop in memory).
    struct AnswerOf<F, T> {
        #[pin]
        future: F,
        answer: PhantomData<fn() -> T>,
    }
}

impl<F: Future, T> Future for AnswerOf<F, T>
where
    F::Output: CallbackReturn<T>,
{
    type Output = Result<T, CallbackError>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().future.poll(cx).map(CallbackReturn::into_answer)
    }
}

/// What a callback method may return when its callback answers `T`: `T`, or
/// `Result<T, E>` for a fallible one: [`IntoCallbackResult`](crate::IntoCallbackResult) for
/// generated code.
#[diagnostic::on_unimplemented(
    message = "a callback returning `{Self}` cannot answer with `{T}`",
    label = "this callback answers with `{T}`",
    note = "return `{T}`, or `Result<{T}, E>` where `E: Into<mxmod::CallbackError>`"
)]
pub trait CallbackReturn<T> {
    /// Normalises the return value.
    fn into_answer(self) -> Result<T, CallbackError>;
}

#[diagnostic::do_not_recommend]
impl<T> CallbackReturn<T> for T {
    #[inline(always)]
    fn into_answer(self) -> Result<T, CallbackError> {
        Ok(self)
    }
}

#[diagnostic::do_not_recommend]
impl<T, E: Into<CallbackError>> CallbackReturn<T> for Result<T, E> {
    #[inline(always)]
    fn into_answer(self) -> Result<T, CallbackError> {
        self.map_err(Into::into)
    }
}

/// No callback answers this. Its impl makes `R: CallbackReturn<?T>` ambiguous for every
/// `R`, so rustc waits for the callback table to fix `T` instead of taking `T = R` from
/// the only other impl that fits; a wrong return type then fails the bound (with its
/// message) rather than as a `StackFuture` type mismatch. (`X = NotAnAnswer<X>` has no
/// solution, so this impl overlaps neither of the others.)
pub enum NotAnAnswer<X> {
    #[doc(hidden)]
    Never(std::convert::Infallible, std::marker::PhantomData<X>),
}

#[diagnostic::do_not_recommend]
impl<X> CallbackReturn<NotAnAnswer<X>> for X {
    fn into_answer(self) -> Result<NotAnAnswer<X>, CallbackError> {
        Err(CallbackError::other("`NotAnAnswer` is never a callback's answer"))
    }
}

/// Passes one argument of a callback to the module's method: the identity, when the
/// method's parameter type `Self` is the callback's argument type `Expected`.
///
/// The shim calls `Type::method(object, callback_arg(arg)..)`, each call spanned on the
/// author's parameter type. A parameter of another type is then an unmet bound on that
/// type, read the right way round (expected: what the callback passes; found: what the
/// author wrote), instead of a type mismatch naming the two the other way round.
#[diagnostic::on_unimplemented(
    message = "mismatched callback argument: expected `{Expected}`, found `{Self}`",
    label = "the callback passes `{Expected}` here",
    note = "every callback's signature is in `mxmod::callbacks::reference`; a web resource takes `WebRequest`"
)]
pub trait CallbackArg<Expected> {
    /// The argument, as the method's parameter.
    fn from_expected(argument: Expected) -> Self;
}

#[diagnostic::do_not_recommend]
impl<T> CallbackArg<T> for T {
    #[inline(always)]
    fn from_expected(argument: T) -> T {
        argument
    }
}

/// A parameter written `&T` where the callback passes `&mut T` (a reader that changes
/// nothing), as the coercion from `&mut` to `&` allows.
#[diagnostic::do_not_recommend]
impl<'a, T: ?Sized> CallbackArg<&'a mut T> for &'a T {
    #[inline(always)]
    fn from_expected(argument: &'a mut T) -> &'a T {
        argument
    }
}

/// One argument of a callback, passed to the module's method (see [`CallbackArg`]).
#[inline(always)]
pub fn callback_arg<E, P: CallbackArg<E>>(argument: E) -> P {
    P::from_expected(argument)
}

/// The module instance behind a shim's object pointer.
#[inline(always)]
pub fn downcast<T: Any>(object: &ModuleObject) -> &T {
    match object.downcast_ref::<T>() {
        Some(module) => module,
        None => {
            panic!("mxmod: a callback of `{}` was attached to another module's instance", std::any::type_name::<T>())
        }
    }
}

/// Pins a future's output type (so `?` inside a `#[cached]` body infers its error).
#[inline(always)]
pub fn typed<T, F: Future<Output = T>>(future: F) -> F {
    future
}

/// What `#[module]` needs of the type of its `impl` block: the two functions of its
/// descriptor. Every [`Module`] has them; for any other type, the one error says so.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `mxmod::Module`",
    label = "`#[module]` needs `impl mxmod::Module for {Self}`",
    note = "a module type implements `mxmod::Module`: `type Config` (its YAML `config:`) and `fn new(config, api)`"
)]
pub trait ModuleType {
    /// [`parse_config`] for this type.
    const PARSE_CONFIG: ParseConfigFn;
    /// [`instantiate`] for this type.
    const INSTANTIATE: InstantiateFn;
}

impl<M: Module> ModuleType for M {
    const PARSE_CONFIG: ParseConfigFn = parse_config::<M>;
    const INSTANTIATE: InstantiateFn = instantiate::<M>;
}

/// Builds a module from its parsed config, for the registry.
pub fn instantiate<M: Module>(config: Box<dyn Any + Send>, api: ModuleApi) -> Result<Arc<ModuleObject>, ModuleError> {
    let config = config
        .downcast::<M::Config>()
        .map_err(|_| ModuleError::new(format!("config of `{}` has the wrong type", std::any::type_name::<M>())))?;
    Ok(Arc::new(M::new(*config, api)?))
}

/// Creates and lists the cache of one `#[cached]` method (its `<method>_new_cache`).
pub fn new_cache<K, V>(api: &ModuleApi, method: &'static str, max_size: usize) -> CacheHandle<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    api.caches().create(method, max_size)
}

pub use crate::config::parse_module_config as parse_config;
