//! `#[cached]`, stage 1: the arguments (`cache = field`, `max_size = N`, `crate = path`).

use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;

/// The LRU size when the attribute does not set one.
pub(crate) const DEFAULT_MAX_SIZE: usize = 1000;

/// Parsed `#[cached(...)]` arguments.
pub(crate) struct CachedArgs {
    /// `max_size = N`.
    pub(crate) max_size: usize,
    /// `cache = field`: the module's field holding the cache.
    pub(crate) field: Option<syn::Ident>,
    /// `crate = path`: where generated code finds `mxmod`.
    pub(crate) krate: Option<syn::Path>,
}

/// Parses `max_size = N`, `cache = field` and `crate = path`.
pub(crate) fn parse_args(args: TokenStream, cx: &mut Ctxt) -> CachedArgs {
    let mut parsed = CachedArgs { max_size: DEFAULT_MAX_SIZE, field: None, krate: None };
    if args.is_empty() {
        return parsed;
    }
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("cache") {
            parsed.field = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("crate") {
            parsed.krate = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("max_size") {
            let literal: syn::LitInt = meta.value()?.parse()?;
            let value: usize = literal.base10_parse()?;
            if value == 0 {
                return Err(syn::Error::new_spanned(literal, "`max_size` must be at least 1"));
            }
            parsed.max_size = value;
            Ok(())
        } else {
            Err(meta.error(
                "unknown `#[cached]` argument; expected `cache = field` (required), `max_size = N` (default 1000) \
                 or `crate = path`",
            ))
        }
    });
    if let Err(error) = syn::parse::Parser::parse2(parser, args) {
        cx.push(error);
    }
    parsed
}
