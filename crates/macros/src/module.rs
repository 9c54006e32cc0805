//! `#[module(name = "...")]` on an inherent `impl` block: [`parse`] → [`validate`] →
//! [`expand`], one file per stage.
//!
//! Expansion keeps the impl block (minus the category attributes) and adds, in one
//! `const _: () = { ... };`, a linkme slice entry for the module and one per method: a
//! callback shim, a web-resource shim or a cache listing.

mod expand;
mod parse;
#[cfg(test)]
pub(crate) mod tests;
mod validate;

use proc_macro2::TokenStream;
use quote::quote;

use crate::{ctxt::Ctxt, paths::CorePaths};

/// Entry point: the user's block, plus its registrations or the errors found.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let mut args = parse::args(args, &mut cx);
    let overridden = args.krate.is_some();
    let paths = args.krate.take().map(CorePaths::new).unwrap_or_default();
    let Some(mut block) = parse::item(&item, &mut cx) else {
        let errors = cx.into_compile_errors();
        return quote! { #errors #item };
    };
    let marked = parse::marked_methods(&mut block, &paths.root(), overridden);
    // The category attributes are consumed or rewritten here; naming their paths keeps the
    // user's imports of them used, whether or not the expansion succeeds.
    let attr_paths: Vec<syn::Path> =
        marked.iter().flat_map(|m| m.marks.iter().map(|(_, attr)| attr.path().clone())).collect();
    let keep_imports_used = quote! { #(#[allow(unused_imports)] use #attr_paths as _;)* };
    let def = validate::module(&block, args, marked, &mut cx);
    match def {
        Some(def) if cx.is_ok() => {
            let registrations = expand::registrations(&def, &paths);
            let cfgs = &def.cfgs;
            quote! {
                #block
                #(#cfgs)*
                #[doc(hidden)]
                const _: () = { #registrations #keep_imports_used };
            }
        }
        _ => {
            let errors = cx.into_compile_errors();
            quote! {
                #errors
                #block
                const _: () = { #keep_imports_used };
            }
        }
    }
}
