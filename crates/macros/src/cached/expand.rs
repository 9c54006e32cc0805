//! `#[cached]`, stage 3: pure and infallible. The rewritten method, its cache accessor
//! and its cache constructor, from a validated [`Plan`].

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ImplItemFn;

use crate::{
    cached::{parse::CachedArgs, validate::Plan},
    paths::CorePaths,
};

/// The rewritten method, its cache accessor and its cache constructor.
pub(crate) fn expand(method: &ImplItemFn, plan: &Plan, args: &CachedArgs, field: &syn::Ident) -> TokenStream {
    let paths = args.krate.clone().map(CorePaths::new).unwrap_or_default();
    let (root, private) = (paths.root(), paths.private());
    let ImplItemFn { attrs, vis, sig, block, .. } = method;
    let name = &sig.ident;
    let handle = format_ident!("{}_cache", name);
    let new_cache = format_ident!("{}_new_cache", name);
    let max_size = args.max_size;
    let arg_names = &plan.args;
    let (key_type, key_expr) = match plan.arg_types.as_slice() {
        [single] => (quote!(#single), quote!(::core::clone::Clone::clone(&#(#arg_names)*))),
        types => (quote!((#(#types,)*)), quote!((#(::core::clone::Clone::clone(&#arg_names),)*))),
    };
    let output = &plan.output;
    let value_type = match &plan.ok_type {
        Some(ok) => quote!(#ok),
        None => quote!(#output),
    };
    let cache = quote_spanned!(field.span()=> &self.#field);
    let body = quote!(#private::typed::<#output, _>(async move #block));
    let lookup = match &plan.ok_type {
        Some(_) => quote!(#root::cache::CacheHandle::get_or_try_compute(#cache, __mxmod_key, #body).await),
        None => quote!(#root::cache::CacheHandle::get_or_compute(#cache, __mxmod_key, #body).await),
    };
    let handle_doc = format!(
        "The cache of [`Self::{name}`] (the `{field}` field): `invalidate(&key)`, `invalidate_all()`, `stats()`."
    );
    let new_cache_doc =
        format!("Creates the cache of [`Self::{name}`] ({max_size} entries) for the `{field}` field, in `new`.");
    quote! {
        #(#attrs)*
        #vis #sig {
            let __mxmod_key: #key_type = #key_expr;
            #lookup
        }

        #[doc = #handle_doc]
        #[allow(dead_code)]
        #vis fn #handle(&self) -> &#root::cache::CacheHandle<#key_type, #value_type> {
            #cache
        }

        #[doc = #new_cache_doc]
        #[allow(dead_code)]
        #vis fn #new_cache(api: &#root::ModuleApi) -> #root::cache::CacheHandle<#key_type, #value_type> {
            #private::new_cache(api, ::core::stringify!(#name), #max_size)
        }
    }
}
