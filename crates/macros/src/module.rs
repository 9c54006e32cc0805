//! `#[module(name = "...")]` on an inherent `impl` block: parse → validate → expand.
//!
//! Expansion keeps the impl block (minus the category attributes) and adds, in one
//! `const _: () = { ... };`, a linkme slice entry for the module and one per method: a
//! callback shim, a web-resource shim or a cache listing.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{spanned::Spanned, FnArg, ImplItem, ImplItemFn, ItemImpl, ReturnType};

use crate::{
    cached,
    category::{classify, Category, MethodKind},
    ctxt::Ctxt,
    web_path,
};

/// Entry point.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let name = parse_name(args, &mut cx);
    let mut block: ItemImpl = match syn::parse2(item.clone()) {
        Ok(block) => block,
        Err(_) => {
            cx.push(syn::Error::new(
                Span::call_site(),
                "`#[module(name = \"...\")]` goes on the inherent `impl` block holding the module's callbacks \
                 (`impl MyModule { ... }`), not on the type or a function",
            ));
            let errors = cx.into_compile_errors();
            return quote! { #errors #item };
        }
    };
    check_impl_block(&block, &mut cx);
    let methods = collect_methods(&mut block, &mut cx);
    match name {
        Some(name) if cx.is_ok() => {
            let registrations = registrations(&block, &name, &methods);
            quote! {
                #block
                #[doc(hidden)]
                const _: () = { #registrations };
            }
        }
        _ => {
            let errors = cx.into_compile_errors();
            quote! { #errors #block }
        }
    }
}

/// `name = "..."`, exactly once.
fn parse_name(args: TokenStream, cx: &mut Ctxt) -> Option<syn::LitStr> {
    let mut name: Option<syn::LitStr> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            let value: syn::LitStr = meta.value()?.parse()?;
            if name.is_some() {
                return Err(syn::Error::new_spanned(&meta.path, "duplicate `name`: a module has exactly one name"));
            }
            let text = value.value();
            if text.is_empty() || !text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
                return Err(syn::Error::new_spanned(
                    &value,
                    "a module name is what operators write after `module:`: letters, digits, `_`, `-` and `.` only",
                ));
            }
            name = Some(value);
            Ok(())
        } else {
            Err(meta.error("unknown `#[module]` argument; write `#[module(name = \"my_module\")]`"))
        }
    });
    if let Err(error) = syn::parse::Parser::parse2(parser, args) {
        cx.push(error);
        return None;
    }
    if name.is_none() {
        cx.push(syn::Error::new(
            Span::call_site(),
            "missing module name: write `#[module(name = \"my_module\")]`; operators list it as `- module: my_module`",
        ));
    }
    name
}

fn check_impl_block(block: &ItemImpl, cx: &mut Ctxt) {
    if let Some((_, path, _)) = &block.trait_ {
        cx.error_spanned(
            path,
            "`#[module]` goes on the inherent `impl` block with the callbacks (`impl MyModule`), not on a trait impl",
        );
    }
    if !block.generics.params.is_empty() {
        cx.error_spanned(
            &block.generics,
            "a module type cannot be generic: the registry instantiates one concrete type",
        );
    }
}

/// A method carrying one of our attributes.
struct Method {
    kind: MethodKind,
    /// The attribute's path as the user wrote it (kept used: the attribute is stripped).
    attr_path: syn::Path,
    /// `#[web_resource("...")]` path.
    web_path: Option<String>,
    /// `#[cached(...)]` size.
    max_size: usize,
    sig: syn::Signature,
}

/// Finds the marked methods, validates them, strips category attributes and rewrites
/// `#[cached]` to its absolute path.
fn collect_methods(block: &mut ItemImpl, cx: &mut Ctxt) -> Vec<Method> {
    let mut methods = Vec::new();
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else { continue };
        let mut found: Vec<(MethodKind, syn::Attribute)> = Vec::new();
        method.attrs.retain(|attr| match classify(attr) {
            Some(MethodKind::Cached) => {
                found.push((MethodKind::Cached, attr.clone()));
                true
            }
            Some(kind) => {
                found.push((kind, attr.clone()));
                false
            }
            None => true,
        });
        for attr in &mut method.attrs {
            if matches!(classify(attr), Some(MethodKind::Cached)) {
                rewrite_cached_path(attr);
            }
        }
        let mut found = found.into_iter();
        let Some((kind, attr)) = found.next() else { continue };
        for (_, extra) in found {
            cx.error_spanned(&extra, "a method carries one mxmod attribute; split it into two methods");
        }
        if let Some(method) = validate_method(method, kind, &attr, cx) {
            methods.push(method);
        }
    }
    methods
}

fn rewrite_cached_path(attr: &mut syn::Attribute) {
    let span = attr.path().span();
    let path: syn::Path = syn::parse_quote_spanned!(span=> ::mxmod::cached);
    match &mut attr.meta {
        syn::Meta::Path(p) => *p = path,
        syn::Meta::List(list) => list.path = path,
        syn::Meta::NameValue(nv) => nv.path = path,
    }
}

fn validate_method(method: &ImplItemFn, kind: MethodKind, attr: &syn::Attribute, cx: &mut Ctxt) -> Option<Method> {
    let sig = &method.sig;
    let what = match &kind {
        MethodKind::Callback(category) => category.name,
        MethodKind::WebResource => "web_resource",
        MethodKind::Cached => "cached",
    };
    let mut web = None;
    let mut max_size = 0;
    match &kind {
        MethodKind::WebResource => match attr.parse_args::<syn::LitStr>() {
            Ok(path) => match web_path::problem(&path.value()) {
                Some(reason) => cx.error_spanned(&path, format!("invalid web resource path: {reason}")),
                None => web = Some(path.value()),
            },
            Err(_) => cx.error_spanned(
                attr,
                "write the mount path as a string: `#[web_resource(\"/_synapse/client/my_module/path\")]`",
            ),
        },
        MethodKind::Cached => {
            let args = match &attr.meta {
                syn::Meta::List(list) => list.tokens.clone(),
                _ => TokenStream::new(),
            };
            // Argument errors are reported by the `#[cached]` expansion itself.
            max_size = cached::parse_args(args, &mut Ctxt::default()).max_size;
            return Some(Method { kind, attr_path: attr.path().clone(), web_path: None, max_size, sig: sig.clone() });
        }
        MethodKind::Callback(_) => {}
    }
    if sig.asyncness.is_none() {
        cx.error_spanned(
            sig.fn_token,
            format!(
                "`#[{what}]` methods must be `async fn` (Synapse awaits every callback): write `async fn {}`",
                sig.ident
            ),
        );
    }
    match sig.inputs.first() {
        Some(FnArg::Receiver(receiver)) if receiver.reference.is_some() && receiver.mutability.is_none() => {}
        _ => cx.error_spanned(
            &sig.ident,
            format!("`#[{what}]` methods take `&self` first: modules are shared between concurrent requests"),
        ),
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned(&sig.generics, format!("`#[{what}]` methods cannot be generic"));
    }
    if let MethodKind::WebResource = kind {
        if sig.inputs.len() != 2 {
            cx.error_spanned(
                &sig.inputs,
                "a web resource takes `&self` and the request: `async fn handler(&self, request: WebRequest) -> WebResponse`",
            );
        }
    }
    Some(Method { kind, attr_path: attr.path().clone(), web_path: web, max_size, sig: sig.clone() })
}

/// The slice entries of the module and its methods.
fn registrations(block: &ItemImpl, name: &syn::LitStr, methods: &[Method]) -> TokenStream {
    let ty = &block.self_ty;
    let ty_span = ty.span();
    let parse_config = quote_spanned!(ty_span=> ::mxmod::__private::parse_config::<#ty>);
    let instantiate = quote_spanned!(ty_span=> ::mxmod::__private::instantiate::<#ty>);
    let mut out = quote! {
        #[::mxmod::__private::linkme::distributed_slice(::mxmod::registry::MXMOD_MODULES)]
        #[linkme(crate = ::mxmod::__private::linkme)]
        static __MXMOD_MODULE: ::mxmod::module::ModuleDescriptor = ::mxmod::module::ModuleDescriptor {
            name: #name,
            crate_name: ::core::env!("CARGO_PKG_NAME"),
            type_name: ::core::stringify!(#ty),
            file: ::core::file!(),
            line: ::core::line!(),
            parse_config: #parse_config,
            instantiate: #instantiate,
        };
    };
    for (n, method) in methods.iter().enumerate() {
        let entry = match &method.kind {
            MethodKind::Callback(category) => callback_entry(ty, name, category, method, n),
            MethodKind::WebResource => web_entry(ty, name, method, n),
            MethodKind::Cached => cached_entry(name, method, n),
        };
        out.extend(entry);
        // The attribute was consumed or rewritten here; this keeps the user's `use` of it used.
        let path = &method.attr_path;
        out.extend(quote! { #[allow(unused_imports)] use #path as _; });
    }
    out
}

/// Positional argument names for a shim closure.
fn shim_args(sig: &syn::Signature) -> Vec<syn::Ident> {
    sig.inputs
        .iter()
        .skip(1)
        .enumerate()
        .map(|(n, input)| format_ident!("__mxmod_arg{}", n, span = input.span()))
        .collect()
}

/// `IntoCallbackResult::into_callback_result(Type::method(downcast(object), args..).await)`,
/// spanned so type errors point at the user's signature.
fn shim_call(ty: &syn::Type, sig: &syn::Signature, args: &[syn::Ident]) -> TokenStream {
    let method = &sig.ident;
    let call = quote_spanned! {sig.ident.span()=>
        <#ty>::#method(::mxmod::__private::downcast::<#ty>(__mxmod_object), #(#args),*).await
    };
    let output_span = match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    quote_spanned! {output_span=>
        ::mxmod::__private::IntoCallbackResult::into_callback_result(#call)
    }
}

fn callback_entry(ty: &syn::Type, name: &syn::LitStr, category: &Category, method: &Method, n: usize) -> TokenStream {
    let sig = &method.sig;
    let module_path = format_ident!("{}", category.name);
    let slice = format_ident!("{}", category.slice);
    let shim_enum = format_ident!("{}", category.shim_enum);
    let callback = &sig.ident;
    let args = shim_args(sig);
    let call = shim_call(ty, sig, &args);
    let static_name = format_ident!("__MXMOD_CALLBACK_{}", n);
    let constructor = quote_spanned!(sig.ident.span()=> ::mxmod::callbacks::#module_path::#callback);
    quote! {
        #[::mxmod::__private::linkme::distributed_slice(::mxmod::callbacks::#module_path::#slice)]
        #[linkme(crate = ::mxmod::__private::linkme)]
        static #static_name: ::mxmod::callbacks::CallbackDescriptor<::mxmod::callbacks::#module_path::#shim_enum> =
            ::mxmod::callbacks::CallbackDescriptor {
                module: #name,
                method: ::core::stringify!(#callback),
                file: ::core::file!(),
                line: ::core::line!(),
                callback: #constructor(|__mxmod_object, #(#args),*| {
                    ::mxmod::__private::callback_future(async move { #call })
                }),
            };
    }
}

fn web_entry(ty: &syn::Type, name: &syn::LitStr, method: &Method, n: usize) -> TokenStream {
    let sig = &method.sig;
    let path = method.web_path.as_deref().unwrap_or_default();
    let callback = &sig.ident;
    let args = shim_args(sig);
    let call = shim_call(ty, sig, &args);
    let static_name = format_ident!("__MXMOD_WEB_{}", n);
    quote! {
        #[::mxmod::__private::linkme::distributed_slice(::mxmod::registry::MXMOD_WEB_RESOURCES)]
        #[linkme(crate = ::mxmod::__private::linkme)]
        static #static_name: ::mxmod::web::WebResourceDescriptor = ::mxmod::web::WebResourceDescriptor {
            module: #name,
            path: #path,
            method: ::core::stringify!(#callback),
            file: ::core::file!(),
            line: ::core::line!(),
            handler: |__mxmod_object, #(#args),*| ::mxmod::__private::callback_future(async move { #call }),
        };
    }
}

fn cached_entry(name: &syn::LitStr, method: &Method, n: usize) -> TokenStream {
    let callback = &method.sig.ident;
    let max_size = method.max_size;
    let static_name = format_ident!("__MXMOD_CACHED_{}", n);
    quote! {
        #[::mxmod::__private::linkme::distributed_slice(::mxmod::registry::MXMOD_CACHED_FNS)]
        #[linkme(crate = ::mxmod::__private::linkme)]
        static #static_name: ::mxmod::registry::CachedFnDescriptor = ::mxmod::registry::CachedFnDescriptor {
            module: #name,
            method: ::core::stringify!(#callback),
            max_size: #max_size,
        };
    }
}
