//! Callback categories, each declared once as a table with one row per callback.
//!
//! A row gives the Synapse name and arguments, what one module answers, the combination
//! rule ([`rules`]), how a deny reaches the client ([`DenySpec`]) and Synapse's failure
//! policy ([`FailurePolicy`]). From it `define_category!` generates the shim type, the
//! constructor the `#[module]` macro names, the linkme slice entry variant, the hook field
//! and the dispatcher method. Adding a callback is one row.
//!

pub mod account_data;
pub mod account_validity;
pub mod add_extra_fields_to_unsigned_client_event;
mod chain;
// The hook's internals, the call slot, the fold and the dispatch future are not API:
// private here; what generated code, the shim types and the dispatch benchmark name is
// re-exported from `mxmod::__private`.
pub(crate) mod dispatch;
pub(crate) mod fold;
pub(crate) mod hook;
pub mod media_repository;
pub mod outcome;
pub mod password_auth_provider;
pub mod presence_router;
pub mod ratelimit;
pub mod reference;
pub mod rules;
pub(crate) mod slot;
pub mod spam_checker;
mod stats;
pub mod third_party_rules;

use crate::error::ErrCode;
pub use hook::{CallStats, OnError, LATENCY_BUCKETS_US};
pub use outcome::DenySpec;

/// Static facts about one callback, from its table row.
#[derive(Clone, Debug)]
pub struct CallbackSpec {
    /// The Synapse callback name.
    pub name: &'static str,
    /// How a deny reaches the client.
    pub deny: DenySpec,
    /// What a failing callback does by default (Synapse's policy).
    pub failure: FailurePolicy,
}

/// Synapse's default reaction to a callback that raises (`SYNAPSE.md` §3.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Fail the request: a module's [`MatrixError`](crate::MatrixError) passes through
    /// verbatim, anything else becomes this error.
    Propagate {
        /// Status of the error.
        status: u16,
        /// Errcode of the error.
        errcode: ErrCode,
        /// Text of the error.
        error: &'static str,
    },
    /// Log and carry on as if the module had no objection.
    Ignore,
}

impl FailurePolicy {
    /// Synapse's unhandled-exception answer: 500 `M_UNKNOWN` "Internal server error".
    pub const INTERNAL: FailurePolicy =
        FailurePolicy::Propagate { status: 500, errcode: ErrCode::UNKNOWN, error: "Internal server error" };
}

/// One slice element: a module's implementation of one callback of a category.
#[derive(Debug)]
pub struct CallbackDescriptor<C: 'static> {
    /// The module's `#[module(name = ...)]`.
    pub module: &'static str,
    /// The Rust method name (the Synapse callback name).
    pub method: &'static str,
    /// The source file of the method.
    pub file: &'static str,
    /// Line of the method.
    pub line: u32,
    /// The typed shim.
    pub callback: C,
}

impl<C> CallbackDescriptor<C> {
    /// `file:line` of the method.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// Declares one callback category from its table of rows. See the category files. Only
/// core uses it: its expansion names hook internals that are not public.
macro_rules! define_category {
    (
        $(#[$category_doc:meta])*
        category $category:ident, slice $slice:ident, enum $enum:ident, struct $hooks:ident;
        $(
            $(#[$doc:meta])*
            fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $value:ty
                where rule = $rule:ty, deny = $deny:expr, on_error = $failure:expr;
        )*
    ) => {
        /// The linkme slice every implementation of this category lands in.
        #[$crate::__private::linkme::distributed_slice]
        #[linkme(crate = $crate::__private::linkme)]
        pub static $slice: [$crate::callbacks::CallbackDescriptor<$enum>];

        /// One implementation of a callback of this category (a typed shim).
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug)]
        pub enum $enum {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                $name($name::Shim),
            )*
        }

        impl $enum {
            /// The Synapse name of the callback.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$name(_) => stringify!($name),)*
                }
            }
        }

        $(
            $(#[$doc])*
            pub mod $name {
                #[allow(unused_imports)]
                use super::*;

                /// The generated shim: calls the module's method on its instance, builds
                /// the method's future in the call's slot, polls it once there and folds
                /// an answer into the chain.
                pub type Shim = for<'a> fn(
                    &'a $crate::callbacks::hook::ModuleObject,
                    $($ty,)*
                    $crate::callbacks::fold::FirstPoll<'_, 'a, $rule>,
                    &mut ::core::task::Context<'_>,
                ) -> $crate::callbacks::fold::Step;

                /// The row's answer type is what its rule folds.
                const _: fn(<$rule as $crate::callbacks::rules::Rule>::Value) -> $value = |value| value;

                /// What the table says of this callback.
                pub static SPEC: $crate::callbacks::CallbackSpec = $crate::callbacks::CallbackSpec {
                    name: stringify!($name),
                    deny: $deny,
                    failure: $failure,
                };

                /// Whether any module instance implements this callback: a caller that
                /// would do extra work for it (an `await` on a hot path) asks first.
                #[inline]
                pub fn is_implemented(hooks: &super::$hooks) -> bool {
                    !hooks.$name.is_empty()
                }
            }

        )*

        /// The shim constructors, one per callback: `#[module]`-generated code names them
        /// through `mxmod::__private::callbacks::<category>::<callback>`. Not API.
        #[doc(hidden)]
        pub mod constructors {
            $(
                #[doc = concat!("Wraps a shim for `", stringify!($name), "`.")]
                pub const fn $name(shim: super::$name::Shim) -> super::$enum {
                    super::$enum::$name(shim)
                }
            )*
        }

        $(#[$category_doc])*
        #[derive(Default)]
        pub struct $hooks {
            $($name: $crate::callbacks::hook::Hook<$name::Shim>,)*
        }

        impl $hooks {
            /// The category's name (its attribute), as `mxmod_common::CATEGORIES` lists it.
            pub const CATEGORY: &'static str = stringify!($category);

            /// Every callback of this category, in table order.
            pub fn specs() -> Vec<&'static $crate::callbacks::CallbackSpec> {
                vec![$(&$name::SPEC),*]
            }

            /// The callbacks of this category a module implements, from the slice.
            pub fn implemented_by(module: &str) -> Vec<&'static str> {
                $slice.iter().filter(|d| d.module == module).map(|d| d.callback.name()).collect()
            }

            /// The names of the callbacks at least one instance implements.
            pub fn implemented(&self) -> Vec<&'static str> {
                let mut names = Vec::new();
                $(if !self.$name.is_empty() { names.push(stringify!($name)); })*
                names
            }

            /// Call statistics per (callback, module instance), read now.
            pub fn stats(&self) -> Vec<(&'static str, ::std::sync::Arc<str>, $crate::callbacks::hook::CallStats)> {
                let mut out = Vec::new();
                $(for (module, stats) in self.$name.stats() {
                    out.push((stringify!($name), module, stats));
                })*
                out
            }

            /// Adds one instance's implementations from the slice.
            pub(crate) fn attach(
                &mut self,
                instance: &$crate::registry::Instance,
                settings: &$crate::callbacks::hook::EntrySettings,
            ) {
                for descriptor in $slice.iter().filter(|d| d.module == instance.module_name()) {
                    match descriptor.callback {
                        $($enum::$name(shim) => self.$name.push(&$name::SPEC, shim, instance.object().clone(), instance.label(), settings),)*
                    }
                }
            }

            $(
                $(#[$doc])*
                #[doc = ""]
                #[doc = concat!("Combination: `", stringify!($rule), "`.")]
                ///
                /// With no implementation this returns a ready answer without building
                /// the chain's future.
                #[inline]
                #[allow(clippy::needless_lifetimes, clippy::type_complexity)]
                #[allow(unsafe_code, unused_unsafe, reason = "each argument is lent to one call of the chain at a time (`Lend`); a callback without arguments lends none")]
                pub fn $name<'a>(
                    &'a self,
                    $($arg: $ty),*
                ) -> $crate::callbacks::dispatch::Dispatch<
                    impl FnOnce() -> Result<<$rule as $crate::callbacks::rules::Rule>::Output, $crate::MatrixError> + Copy,
                    impl ::core::future::Future<Output = Result<<$rule as $crate::callbacks::rules::Rule>::Output, $crate::MatrixError>> + 'a,
                > {
                    use $crate::callbacks::{chain::Chain, dispatch::Dispatch};

                    let hook = &self.$name;
                    if hook.is_empty() {
                        return Dispatch::ready(|| Ok(<$rule as $crate::callbacks::rules::Rule>::finish(Default::default())));
                    }
                    $(let mut $arg = $crate::callbacks::chain::Lend::stash($arg);)*
                    Dispatch::chain(Chain::<$rule, _, _>::new(hook, move |shim: $name::Shim, object, first, cx| {
                        // SAFETY: the chain calls this only with its slot empty, so the
                        // call before this one, and every argument lent to it, is gone.
                        unsafe { shim(object, $($crate::callbacks::chain::Lend::lend(&mut $arg),)* first, cx) }
                    }))
                }
            )*
        }
    };
}

pub(crate) use define_category;

/// Lists every category once: its field in [`Callbacks`] and its hooks type. The
/// struct, attaching, statistics and the slice lookup are generated from it.
macro_rules! categories {
    ($($(#[$doc:meta])* $field:ident: $hooks:ty;)*) => {
        /// Every category's hooks: what the server calls.
        #[derive(Default)]
        pub struct Callbacks {
            $($(#[$doc])* pub $field: $hooks,)*
        }

        impl Callbacks {
            /// Adds one instance's callbacks of every category, after those already attached.
            pub(crate) fn attach(&mut self, instance: &crate::registry::Instance, settings: &hook::EntrySettings) {
                $(self.$field.attach(instance, settings);)*
            }

            /// Per (callback, module instance) call statistics of every category.
            pub fn stats(&self) -> Vec<(&'static str, &'static str, std::sync::Arc<str>, hook::CallStats)> {
                let mut out = Vec::new();
                for (category, stats) in [$((<$hooks>::CATEGORY, self.$field.stats()),)*] {
                    out.extend(stats.into_iter().map(|(name, module, stats)| (category, name, module, stats)));
                }
                out
            }
        }

        /// Every category's shim constructors, by category: `mxmod::__private::callbacks`.
        #[doc(hidden)]
        pub mod constructors {
            $(pub use super::$field::constructors as $field;)*
        }

        /// The callbacks a module implements, as (category, callback), from the link-time slices.
        pub fn implemented_by(module: &str) -> Vec<(&'static str, &'static str)> {
            let per_category = [$((<$hooks>::CATEGORY, <$hooks>::implemented_by(module)),)*];
            per_category.into_iter().flat_map(|(category, names)| names.into_iter().map(move |name| (category, name))).collect()
        }

        /// Every category's name and table, in [`Callbacks`] order.
        #[cfg(test)]
        fn tables() -> Vec<(&'static str, Vec<&'static CallbackSpec>)> {
            vec![$((<$hooks>::CATEGORY, <$hooks>::specs()),)*]
        }
    };
}

categories! {
    /// Spam-checker callbacks.
    spam_checker: spam_checker::SpamCheckerCallbacks;
    /// Third-party-rules callbacks.
    third_party_rules: third_party_rules::ThirdPartyRulesCallbacks;
    /// Account-validity callbacks.
    account_validity: account_validity::AccountValidityCallbacks;
    /// Presence-router callbacks.
    presence_router: presence_router::PresenceRouterCallbacks;
    /// Password auth provider callbacks.
    password_auth_provider: password_auth_provider::PasswordAuthProviderCallbacks;
    /// Media repository callbacks.
    media_repository: media_repository::MediaRepositoryCallbacks;
    /// Rate-limit callbacks.
    ratelimit: ratelimit::RatelimitCallbacks;
    /// Account-data callbacks.
    account_data: account_data::AccountDataCallbacks;
    /// Unsigned-field callbacks.
    add_extra_fields_to_unsigned_client_event: add_extra_fields_to_unsigned_client_event::AddExtraFieldsToUnsignedClientEventCallbacks;
}

#[cfg(test)]
mod tests {
    use super::tables;

    /// The macros know the categories and their callbacks from `mxmod_common`; the tables
    /// here must say the same, in the same order.
    #[test]
    fn the_tables_match_the_shared_category_list() {
        let tables = tables();
        assert_eq!(tables.len(), mxmod_common::CATEGORIES.len());
        for ((category, specs), shared) in tables.iter().zip(&mxmod_common::CATEGORIES) {
            assert_eq!(*category, shared.name);
            let names: Vec<&str> = specs.iter().map(|spec| spec.name).collect();
            assert_eq!(names, shared.callbacks, "the callbacks of `{category}`");
        }
    }
}
