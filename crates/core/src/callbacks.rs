//! Callback categories, each declared once as a table with one row per callback.
//!
//! A row gives the Synapse name and arguments, what one module answers, the combination
//! rule ([`rules`]), how a deny reaches the client ([`DenySpec`]) and Synapse's failure
//! policy ([`FailurePolicy`]). From it [`define_category!`](crate::define_category) generates the shim type, the
//! constructor the `#[module]` macro names, the linkme slice entry variant, the hook field
//! and the dispatcher method. Adding a callback is one row.
//!

pub mod account_validity;
pub mod hook;
pub mod outcome;
pub mod presence_router;
pub mod reference;
pub mod rules;
pub mod spam_checker;
pub mod third_party_rules;

use crate::error::ErrCode;
pub use outcome::DenySpec;

/// Static facts about one callback, from its table row.
#[derive(Clone, Debug)]
pub struct CallbackSpec {
    /// The category (`spam_checker`, ...).
    pub category: &'static str,
    /// The Synapse callback name.
    pub name: &'static str,
    /// The combination rule, for documentation and `list-modules`.
    pub rule: &'static str,
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
    /// Where the method is, `file:line`.
    pub file: &'static str,
    /// Line of the method.
    pub line: u32,
    /// The typed shim.
    pub callback: C,
}

/// Declares one callback category from its table of rows. See the category files.
#[doc(hidden)]
#[macro_export]
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

                /// The generated shim: calls the module's method on its instance.
                pub type Shim = for<'a> fn(
                    &'a $crate::callbacks::hook::ModuleObject,
                    $($ty),*
                ) -> $crate::callbacks::hook::CallbackFuture<'a, Result<$value, $crate::CallbackError>>;

                /// What the table says of this callback.
                pub static SPEC: $crate::callbacks::CallbackSpec = $crate::callbacks::CallbackSpec {
                    category: stringify!($category),
                    name: stringify!($name),
                    rule: stringify!($rule),
                    deny: $deny,
                    failure: $failure,
                };
            }

            #[doc = concat!("Wraps a shim for `", stringify!($name), "`; named by `#[module]`-generated code.")]
            #[doc(hidden)]
            pub const fn $name(shim: $name::Shim) -> $enum {
                $enum::$name(shim)
            }
        )*

        $(#[$category_doc])*
        #[derive(Default)]
        pub struct $hooks {
            $($name: $crate::callbacks::hook::Hook<$name::Shim>,)*
        }

        impl $hooks {
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

            /// Call counts etc. per (module, callback).
            pub fn stats(&self) -> Vec<(&'static str, ::std::sync::Arc<str>, ::std::sync::Arc<$crate::callbacks::hook::CallStats>)> {
                let mut out = Vec::new();
                $(for entry in self.$name.entries() {
                    out.push((stringify!($name), entry.module.clone(), entry.stats.clone()));
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
                        $($enum::$name(shim) => self.$name.push($crate::callbacks::hook::HookEntry {
                            module: instance.label(),
                            object: instance.object().clone(),
                            call: shim,
                            settings: settings.clone(),
                            stats: ::std::sync::Arc::default(),
                        }),)*
                    }
                }
            }

            $(
                $(#[$doc])*
                #[doc = ""]
                #[doc = concat!("Combination: `", stringify!($rule), "`.")]
                #[inline]
                #[allow(unused_mut, clippy::needless_lifetimes)]
                pub async fn $name<'a>(
                    &'a self,
                    $(mut $arg: $ty),*
                ) -> Result<<$rule as $crate::callbacks::rules::Rule>::Output, $crate::MatrixError> {
                    use $crate::callbacks::{hook::{FailureStep, Reborrow}, rules::Rule};
                    let mut state = <<$rule as Rule>::State as Default>::default();
                    for entry in self.$name.entries() {
                        // Pinned where it is made: the future is never moved again.
                        let future =
                            ::core::pin::pin!((entry.call)(&*entry.object, $(Reborrow::reborrow(&mut $arg)),*));
                        let value = match entry.invoke(stringify!($name), future).await {
                            Ok(value) => value,
                            Err(failure) => match entry.on_failure::<$rule>(failure, &$name::SPEC) {
                                FailureStep::Continue => continue,
                                FailureStep::Answer(value) => value,
                                FailureStep::Fail(error) => return Err(error),
                            },
                        };
                        if let ::std::ops::ControlFlow::Break(end) = <$rule>::fold(&mut state, value, &$name::SPEC) {
                            return end;
                        }
                    }
                    Ok(<$rule>::finish(state))
                }
            )*
        }
    };
}

/// Every category's hooks: what the server calls.
#[derive(Default)]
pub struct Callbacks {
    /// Spam-checker callbacks.
    pub spam_checker: spam_checker::SpamCheckerCallbacks,
    /// Third-party-rules callbacks.
    pub third_party_rules: third_party_rules::ThirdPartyRulesCallbacks,
    /// Account-validity callbacks.
    pub account_validity: account_validity::AccountValidityCallbacks,
    /// Presence-router callbacks.
    pub presence_router: presence_router::PresenceRouterCallbacks,
}

impl Callbacks {
    /// Adds one instance's callbacks of every category, after those already attached.
    pub(crate) fn attach(&mut self, instance: &crate::registry::Instance, settings: &hook::EntrySettings) {
        self.spam_checker.attach(instance, settings);
        self.third_party_rules.attach(instance, settings);
        self.account_validity.attach(instance, settings);
        self.presence_router.attach(instance, settings);
    }

    /// Per (callback, module instance) call statistics of every category.
    pub fn stats(&self) -> Vec<(&'static str, &'static str, std::sync::Arc<str>, std::sync::Arc<hook::CallStats>)> {
        let mut out = Vec::new();
        for (category, stats) in [
            ("spam_checker", self.spam_checker.stats()),
            ("third_party_rules", self.third_party_rules.stats()),
            ("account_validity", self.account_validity.stats()),
            ("presence_router", self.presence_router.stats()),
        ] {
            out.extend(stats.into_iter().map(|(name, module, stats)| (category, name, module, stats)));
        }
        out
    }
}

/// The callbacks a module implements, as (category, callback), from the link-time slices.
pub fn implemented_by(module: &str) -> Vec<(&'static str, &'static str)> {
    let per_category = [
        ("spam_checker", spam_checker::SpamCheckerCallbacks::implemented_by(module)),
        ("third_party_rules", third_party_rules::ThirdPartyRulesCallbacks::implemented_by(module)),
        ("account_validity", account_validity::AccountValidityCallbacks::implemented_by(module)),
        ("presence_router", presence_router::PresenceRouterCallbacks::implemented_by(module)),
    ];
    per_category.into_iter().flat_map(|(category, names)| names.into_iter().map(move |name| (category, name))).collect()
}
