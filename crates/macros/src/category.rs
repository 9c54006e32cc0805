//! The method attributes `#[module]` understands. The categories themselves (names,
//! slices, callbacks) come from `mxmod-common`, which `mxmod` shares.

use proc_macro2::TokenStream;
use quote::quote;

pub(crate) use mxmod_common::Category;
use mxmod_common::CATEGORIES;

/// What a method attribute asks for.
pub(crate) enum MethodKind {
    /// A callback of this category.
    Callback(&'static Category),
    /// `#[web_resource("/path")]`.
    WebResource,
    /// `#[cached]`.
    Cached,
}

/// Recognises a method attribute by its last path segment (`spam_checker`,
/// `mxmod::spam_checker`, ...).
pub(crate) fn classify(attr: &syn::Attribute) -> Option<MethodKind> {
    let last = attr.path().segments.last()?.ident.to_string();
    match last.as_str() {
        "web_resource" => Some(MethodKind::WebResource),
        "cached" => Some(MethodKind::Cached),
        other => CATEGORIES.iter().find(|c| c.name == other).map(MethodKind::Callback),
    }
}

/// A category attribute used outside a `#[module]` impl block: an error that says what
/// to do, and the item unchanged.
///
/// Inside a `#[module]` block these attributes never expand: `#[module]` runs first and
/// removes them. So reaching this expansion means the block is not marked, or the item
/// is no method at all.
pub(crate) fn outside_module(attribute: &str, item: TokenStream) -> TokenStream {
    let is_method = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(function) => matches!(function.sig.inputs.first(), Some(syn::FnArg::Receiver(_))),
        Err(_) => false,
    };
    let message = if is_method {
        format!(
            "`#[{attribute}]` only works in an `impl` block marked `#[mxmod::module(name = \"...\")]`; \
             mark this `impl` block, or move the method into the one that is"
        )
    } else {
        format!(
            "`#[{attribute}]` goes on an `async fn` method of an `impl` block marked \
             `#[mxmod::module(name = \"...\")]`, not on a free function or other item"
        )
    };
    let error = syn::Error::new(proc_macro2::Span::call_site(), message).to_compile_error();
    quote! { #error #item }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::{classify, outside_module, MethodKind};
    use crate::module::tests::compile_errors;

    fn kind(attr: syn::Attribute) -> Option<&'static str> {
        classify(&attr).map(|kind| match kind {
            MethodKind::Callback(category) => category.name,
            MethodKind::WebResource => "web_resource",
            MethodKind::Cached => "cached",
        })
    }

    #[test]
    fn attributes_are_recognised_by_their_last_segment() {
        assert_eq!(kind(syn::parse_quote!(#[spam_checker])), Some("spam_checker"));
        assert_eq!(kind(syn::parse_quote!(#[mxmod::presence_router])), Some("presence_router"));
        assert_eq!(kind(syn::parse_quote!(#[web_resource("/x")])), Some("web_resource"));
        assert_eq!(kind(syn::parse_quote!(#[cached(max_size = 1)])), Some("cached"));
        assert_eq!(kind(syn::parse_quote!(#[account_validity])), Some("account_validity"));
        assert_eq!(kind(syn::parse_quote!(#[third_party_rules])), Some("third_party_rules"));
        assert_eq!(kind(syn::parse_quote!(#[doc = "x"])), None);
        assert_eq!(kind(syn::parse_quote!(#[spam_checkers])), None);
    }

    #[test]
    fn outside_a_module_the_error_fits_the_item_and_the_item_is_kept() {
        let out = outside_module(
            "spam_checker",
            quote!(
                async fn user_may_invite(&self) {}
            ),
        );
        assert_eq!(
            compile_errors(&out),
            ["`#[spam_checker]` only works in an `impl` block marked `#[mxmod::module(name = \"...\")]`; \
              mark this `impl` block, or move the method into the one that is"]
        );
        assert!(out.to_string().contains("async fn user_may_invite"));
        let out = outside_module(
            "account_validity",
            quote!(
                async fn is_user_expired(user: &UserId) {}
            ),
        );
        assert_eq!(
            compile_errors(&out),
            ["`#[account_validity]` goes on an `async fn` method of an `impl` block marked \
              `#[mxmod::module(name = \"...\")]`, not on a free function or other item"]
        );
    }
}
