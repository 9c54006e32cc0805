//! Where generated code finds `mxmod`: `::mxmod` unless the macro is given `crate = path`
//! (for crates that re-export `mxmod`, as linkme's and serde's `crate` overrides).

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};

/// The root path of `mxmod` in generated code; every generated path starts from it.
#[derive(Clone)]
pub(crate) struct CorePaths {
    root: syn::Path,
}

impl Default for CorePaths {
    fn default() -> Self {
        Self { root: syn::parse_quote!(::mxmod) }
    }
}

impl CorePaths {
    /// Paths rooted at a `crate = path` override.
    pub(crate) fn new(root: syn::Path) -> Self {
        Self { root }
    }

    /// `mxmod` itself.
    pub(crate) fn root(&self) -> TokenStream {
        self.root.to_token_stream()
    }

    /// `mxmod::__private`, what only generated code names.
    pub(crate) fn private(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::__private)
    }

    /// `mxmod::__private` with every token spanned at `span` (the user's), so an error
    /// in code that names it lands on the user's tokens, not on `#[module]`.
    pub(crate) fn private_at(&self, span: Span) -> TokenStream {
        self.private()
            .into_iter()
            .map(|mut token| {
                token.set_span(span);
                token
            })
            .collect()
    }

    /// `mxmod::__private::linkme`, so module crates never depend on linkme.
    pub(crate) fn linkme(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::__private::linkme)
    }
}
