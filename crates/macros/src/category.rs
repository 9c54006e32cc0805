//! The method attributes `#[module]` understands, and where each category's generated
//! items live in `mxmod`.

use proc_macro2::TokenStream;
use quote::quote;

/// A callback category: its attribute and its table's names in `mxmod::callbacks`.
pub(crate) struct Category {
    /// The attribute and the module of `mxmod::callbacks` holding the table.
    pub(crate) name: &'static str,
    /// The linkme slice.
    pub(crate) slice: &'static str,
    /// The enum of shims.
    pub(crate) shim_enum: &'static str,
}

/// The four callback categories.
pub(crate) const CATEGORIES: [Category; 4] = [
    Category { name: "spam_checker", slice: "MXMOD_SPAM_CHECKER_CALLBACKS", shim_enum: "SpamCheckerCallback" },
    Category {
        name: "third_party_rules",
        slice: "MXMOD_THIRD_PARTY_RULES_CALLBACKS",
        shim_enum: "ThirdPartyRulesCallback",
    },
    Category {
        name: "account_validity",
        slice: "MXMOD_ACCOUNT_VALIDITY_CALLBACKS",
        shim_enum: "AccountValidityCallback",
    },
    Category { name: "presence_router", slice: "MXMOD_PRESENCE_ROUTER_CALLBACKS", shim_enum: "PresenceRouterCallback" },
];

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
pub(crate) fn outside_module(attribute: &str, item: TokenStream) -> TokenStream {
    let message = format!(
        "`#[{attribute}]` only works on an `async fn` inside an `impl` block marked `#[mxmod::module(name = \"...\")]`; \
         move this method into that block"
    );
    let error = syn::Error::new(proc_macro2::Span::call_site(), message).to_compile_error();
    quote! { #error #item }
}
