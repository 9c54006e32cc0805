//! Procedural macros of [mxmod](https://docs.rs/mxmod). Use them through `mxmod`'s
//! re-exports; this crate is not meant to be named directly.
//!
//! Every macro parses, then validates everything it can (collecting every error with the
//! span of the user's tokens), then expands. On error it emits the errors and the user's
//! item unchanged, so no cascade of follow-on errors appears.

mod cached;
mod category;
mod ctxt;
mod module;
mod paths;
mod web_method;

use proc_macro::TokenStream;

/// Marks an inherent `impl` block as a module and registers its callbacks:
/// `#[module(name = "my_module")]`.
#[proc_macro_attribute]
pub fn module(args: TokenStream, item: TokenStream) -> TokenStream {
    module::expand(args.into(), item.into()).into()
}

/// `#[cached]` / `#[cached(max_size = N)]` on an `async fn` method: a per-instance LRU.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    cached::expand_standalone(args.into(), item.into()).into()
}

macro_rules! outside_module {
    ($($name:ident),*) => {$(
        #[doc = concat!("`#[", stringify!($name), "]`: registers a method of a `#[module]` impl block. Outside one, a compile error.")]
        #[proc_macro_attribute]
        pub fn $name(_args: TokenStream, item: TokenStream) -> TokenStream {
            category::outside_module(stringify!($name), item.into()).into()
        }
    )*};
}

outside_module!(
    spam_checker,
    third_party_rules,
    account_validity,
    presence_router,
    password_auth_provider,
    media_repository,
    ratelimit,
    account_data,
    add_extra_fields_to_unsigned_client_event,
    web_resource
);
