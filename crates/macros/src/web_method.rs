//! The arguments of `#[web_resource("/path")]` and `#[web_resource("/path", method = "GET")]`:
//! the path literal, then an optional HTTP method checked against the shared list.

use proc_macro2::TokenStream;
use syn::{parse::Parser, punctuated::Punctuated, Token};

use mxmod_common::web_path;

use crate::ctxt::Ctxt;

/// What `#[web_resource(...)]` says, before the path is checked.
pub(crate) struct WebArgs {
    /// The path literal.
    pub(crate) path: syn::LitStr,
    /// The HTTP method, if one is named (and valid).
    pub(crate) method: Option<String>,
}

/// The example every argument error shows.
pub(crate) const EXAMPLE: &str = "`#[web_resource(\"/_synapse/client/my_module/path\")]`";

/// Splits `"/path", method = "GET"`; every problem goes into `cx`. `None` when there is
/// no usable path literal.
pub(crate) fn parse(tokens: TokenStream, cx: &mut Ctxt) -> Option<WebArgs> {
    let Ok(parts) = Punctuated::<syn::Expr, Token![,]>::parse_terminated.parse2(tokens.clone()) else {
        cx.error_spanned(&tokens, format!("the web resource path must be a string literal: {EXAMPLE}"));
        return None;
    };
    let mut parts = parts.into_iter();
    // Rule: the path is one string literal, first, so the macro can check it.
    let path = match parts.next() {
        Some(syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(path), .. })) => Some(path),
        Some(other) => {
            cx.error_spanned(&other, format!("the web resource path must be a string literal: {EXAMPLE}"));
            None
        }
        None => None,
    };
    let mut method: Option<String> = None;
    for part in parts {
        // Rule: after the path, only `method = "GET"` (once), with a method of the list.
        let syn::Expr::Assign(assign) = &part else {
            cx.error_spanned(&part, "expected `method = \"GET\"` after the web resource path");
            continue;
        };
        let is_method = matches!(&*assign.left, syn::Expr::Path(p) if p.path.is_ident("method"));
        if !is_method {
            cx.error_spanned(&assign.left, "unknown `#[web_resource]` argument; expected `method = \"GET\"`");
            continue;
        }
        let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(value), .. }) = &*assign.right else {
            cx.error_spanned(&assign.right, "the method must be a string literal such as `\"GET\"`");
            continue;
        };
        if method.is_some() {
            cx.error_spanned(&assign.left, "duplicate `method`: write one `#[web_resource]` method per HTTP method");
            continue;
        }
        match web_path::method_problem(&value.value()) {
            Some(reason) => cx.error_spanned(value, format!("invalid web resource method: {reason}")),
            None => method = Some(value.value()),
        }
    }
    path.map(|path| WebArgs { path, method })
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn errors(tokens: TokenStream) -> (Option<(String, Option<String>)>, Vec<String>) {
        let mut cx = Ctxt::default();
        let parsed = parse(tokens, &mut cx).map(|args| (args.path.value(), args.method));
        (parsed, crate::module::tests::compile_errors(&cx.into_compile_errors()))
    }

    #[test]
    fn a_method_follows_the_path() {
        assert_eq!(errors(quote!("/a")), (Some(("/a".into(), None)), vec![]));
        assert_eq!(errors(quote!("/a", method = "POST")), (Some(("/a".into(), Some("POST".into()))), vec![]));
        assert_eq!(
            errors(quote!("/a", method = "FETCH")).1,
            ["invalid web resource method: expected one of `GET`, `POST`, `PUT`, `DELETE`, `PATCH`, `OPTIONS`"]
        );
        assert_eq!(
            errors(quote!("/a", method = "HEAD")).1,
            ["invalid web resource method: `HEAD` is answered from the `GET` handler; name `GET`"]
        );
        assert_eq!(
            errors(quote!("/a", method = "GET", method = "POST")).1,
            ["duplicate `method`: write one `#[web_resource]` method per HTTP method"]
        );
        assert_eq!(
            errors(quote!("/a", verb = "GET")).1,
            ["unknown `#[web_resource]` argument; expected `method = \"GET\"`"]
        );
        assert_eq!(errors(quote!("/a", method = GET)).1, ["the method must be a string literal such as `\"GET\"`"]);
    }
}
