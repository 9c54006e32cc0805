//! `#[cached(cache = field)]`: [`parse`] → [`validate`] → [`expand`] a per-instance LRU
//! around an `async fn` method, one file per stage. The cache lives in the module's own
//! field (named by `cache =`, created in `new` with the generated
//! `Self::<method>_new_cache(&api)`); calls reach it through that field.

mod expand;
mod parse;
#[cfg(test)]
mod tests;
mod validate;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ImplItemFn;

pub(crate) use self::parse::parse_args;
use crate::ctxt::Ctxt;

/// `#[cached]` used directly (it also works inside `#[module]`, which forwards to it).
pub(crate) fn expand_standalone(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let parsed_args = parse_args(args, &mut cx);
    // After an argument error the rest of the list was not read: no "missing field" too.
    let args_read = cx.is_ok();
    let method: ImplItemFn = match syn::parse2(item.clone()) {
        Ok(method) => method,
        Err(_) => {
            cx.push(syn::Error::new(
                Span::call_site(),
                "`#[cached]` goes on an `async fn` method (taking `&self`) of a module's `impl` block",
            ));
            let errors = cx.into_compile_errors();
            return quote! { #errors #item };
        }
    };
    let plan = validate::method(&method, &mut cx);
    let field = if args_read { validate::check_field(parsed_args.field.clone(), &method, &mut cx) } else { None };
    match (plan, field) {
        (Some(plan), Some(field)) if cx.is_ok() => expand::expand(&method, &plan, &parsed_args, &field),
        _ => {
            let errors = cx.into_compile_errors();
            quote! { #errors #method }
        }
    }
}
