//! `#[module]`, stage 1: syntax only. The attribute's arguments, the `impl` block, and
//! the methods that carry one of our attributes (which are stripped from the block here).

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::{ImplItem, ImplItemFn, ItemImpl};

use crate::{
    category::{classify, MethodKind},
    ctxt::Ctxt,
};

/// The arguments of `#[module(name = "...", crate = path)]`.
#[derive(Default)]
pub(crate) struct ModuleArgs {
    /// `name = "..."`; its text is checked in validate.
    pub(crate) name: Option<syn::LitStr>,
    /// `crate = path`: where generated code finds `mxmod`.
    pub(crate) krate: Option<syn::Path>,
    /// The arguments did not parse (the error is reported; a missing name is not).
    pub(crate) malformed: bool,
}

/// Parses the arguments; each key at most once, unknown keys named.
pub(crate) fn args(args: TokenStream, cx: &mut Ctxt) -> ModuleArgs {
    let mut parsed = ModuleArgs::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            let value: syn::LitStr = meta.value()?.parse()?;
            if parsed.name.is_some() {
                return Err(syn::Error::new_spanned(&meta.path, "duplicate `name`: a module has exactly one name"));
            }
            parsed.name = Some(value);
            Ok(())
        } else if meta.path.is_ident("crate") {
            let value: syn::Path = meta.value()?.parse()?;
            if parsed.krate.is_some() {
                return Err(syn::Error::new_spanned(&meta.path, "duplicate `crate` argument"));
            }
            parsed.krate = Some(value);
            Ok(())
        } else {
            let key = meta.path.to_token_stream().to_string().replace(' ', "");
            Err(meta.error(format!(
                "unknown `#[module]` argument `{key}`; expected `name = \"my_module\"` or `crate = path::to::mxmod`"
            )))
        }
    });
    if let Err(error) = syn::parse::Parser::parse2(parser, args) {
        cx.push(error);
        parsed.malformed = true;
    }
    parsed
}

/// The `impl` block, or the error for any other item.
pub(crate) fn item(item: &TokenStream, cx: &mut Ctxt) -> Option<ItemImpl> {
    match syn::parse2(item.clone()) {
        Ok(block) => Some(block),
        Err(_) => {
            cx.push(not_an_impl_block(item));
            None
        }
    }
}

/// `#[module]` on something other than an `impl` block: the error, on the item's keyword
/// and name.
fn not_an_impl_block(item: &TokenStream) -> syn::Error {
    fn named(keyword: impl ToTokens, ident: &syn::Ident) -> TokenStream {
        quote!(#keyword #ident)
    }
    let (tokens, what, ty) = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Struct(item)) => (named(item.struct_token, &item.ident), "a struct", item.ident.to_string()),
        Ok(syn::Item::Enum(item)) => (named(item.enum_token, &item.ident), "an enum", item.ident.to_string()),
        Ok(syn::Item::Union(item)) => (named(item.union_token, &item.ident), "a union", item.ident.to_string()),
        Ok(syn::Item::Fn(item)) => (named(item.sig.fn_token, &item.sig.ident), "a function", "MyModule".to_owned()),
        Ok(syn::Item::Trait(item)) => (named(item.trait_token, &item.ident), "a trait", "MyModule".to_owned()),
        _ => (TokenStream::new(), "this item", "MyModule".to_owned()),
    };
    let message = format!(
        "`#[module(name = \"...\")]` goes on the inherent `impl` block holding the module's callbacks \
         (`impl {ty} {{ ... }}`), not on {what}"
    );
    if tokens.is_empty() {
        syn::Error::new(Span::call_site(), message)
    } else {
        syn::Error::new_spanned(tokens, message)
    }
}

/// A method carrying at least one of our attributes, as written.
pub(crate) struct MarkedMethod {
    /// Our attributes on it, in order (validate allows exactly one).
    pub(crate) marks: Vec<(MethodKind, syn::Attribute)>,
    /// The method, with our attributes (except `#[cached]`) removed.
    pub(crate) method: ImplItemFn,
}

/// The marked methods of the block. Category attributes are removed from the block (they
/// are ours); `#[cached]` stays and has its path made absolute (it expands on the method).
/// A method with more than one mark keeps none, so only the one error is reported.
/// With a `crate = path` override on `#[module]`, `#[cached]` gets it too.
pub(crate) fn marked_methods(block: &mut ItemImpl, root: &TokenStream, overridden: bool) -> Vec<MarkedMethod> {
    let mut marked = Vec::new();
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else { continue };
        let marks: Vec<(MethodKind, syn::Attribute)> =
            method.attrs.iter().filter_map(|attr| Some((classify(attr)?, attr.clone()))).collect();
        if marks.is_empty() {
            continue;
        }
        if marks.len() > 1 {
            method.attrs.retain(|attr| classify(attr).is_none());
        } else {
            method.attrs.retain(|attr| matches!(classify(attr), None | Some(MethodKind::Cached)));
            for attr in &mut method.attrs {
                if matches!(classify(attr), Some(MethodKind::Cached)) {
                    rewrite_cached_path(attr, root, overridden);
                }
            }
        }
        marked.push(MarkedMethod { marks, method: method.clone() });
    }
    marked
}

/// `#[cached(..)]` → `#[<root>::cached(..)]` keeping the user's span, plus
/// `crate = <root>` when `#[module]` was given one.
fn rewrite_cached_path(attr: &mut syn::Attribute, root: &TokenStream, overridden: bool) {
    let span = syn::spanned::Spanned::span(attr.path());
    let path: syn::Path = syn::parse_quote_spanned!(span=> #root::cached);
    match &mut attr.meta {
        syn::Meta::Path(_) if overridden => attr.meta = syn::parse_quote!(#path(crate = #root)),
        syn::Meta::Path(p) => *p = path,
        syn::Meta::List(list) => {
            list.path = path;
            if overridden {
                let tokens = &list.tokens;
                list.tokens = quote!(#tokens, crate = #root);
            }
        }
        syn::Meta::NameValue(nv) => nv.path = path,
    }
}

/// The `#[cfg(...)]` attributes among `attrs`: copied onto every item generated for them.
pub(crate) fn cfgs(attrs: &[syn::Attribute]) -> Vec<syn::Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident("cfg")).cloned().collect()
}

/// The attribute's name as written, without its arguments (`spam_checker`, `mxmod::cached`).
pub(crate) fn attr_name(attr: &syn::Attribute) -> String {
    attr.path().to_token_stream().to_string().replace(' ', "")
}
