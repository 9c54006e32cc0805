//! `#[module]`, stage 3: pure and infallible. From a [`ModuleDef`], the slice entries of
//! the module and of each marked method, every path rooted at [`CorePaths`].

use proc_macro2::{Delimiter, Group, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::{spanned::Spanned, ReturnType};

use crate::{
    category::{Category, MethodKind},
    module::validate::{MethodDef, ModuleDef},
    paths::CorePaths,
};

/// The slice entries of the module and its methods.
pub(crate) fn registrations(def: &ModuleDef, paths: &CorePaths) -> TokenStream {
    let ModuleDef { ty, name, methods, .. } = def;
    let (root, linkme) = (paths.root(), paths.linkme());
    let ty_span = ty.span();
    let private = paths.private_at(ty_span);
    // One trait, one error if the type is not a `Module`, on the type.
    let parse_config = quote_spanned!(ty_span=> <#ty as #private::ModuleType>::PARSE_CONFIG);
    let instantiate = quote_spanned!(ty_span=> <#ty as #private::ModuleType>::INSTANTIATE);
    let mut out = quote! {
        #[#linkme::distributed_slice(#root::registry::MXMOD_MODULES)]
        #[linkme(crate = #linkme)]
        static __MXMOD_MODULE: #root::module::ModuleDescriptor = #root::module::ModuleDescriptor {
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
            MethodKind::Callback(category) => callback_entry(ty, name, category, method, n, paths),
            MethodKind::WebResource => web_entry(ty, name, method, n, paths),
            MethodKind::Cached => cached_entry(name, method, n, paths),
        };
        let cfgs = &method.cfgs;
        // A `#[cfg]` on the method gates its registration too.
        out.extend(quote! { #(#cfgs)* #entry });
    }
    out
}

/// `file!()` and `line!()` of the method, spanned on its name so they point at it.
fn location(sig: &syn::Signature) -> (TokenStream, TokenStream) {
    let span = sig.ident.span();
    (quote_spanned!(span=> ::core::file!()), quote_spanned!(span=> ::core::line!()))
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

/// How a shim hands over the method's future.
#[derive(Clone, Copy)]
enum ShimForm {
    /// A category callback: `|object, args.., first, cx| callback_start(Type::method(..), first, cx)`,
    /// the future built and polled in the chain's slot, its answer folded there.
    Slot,
    /// A web resource: `|object, request| callback_future(Type::method(..))`, the future
    /// returned.
    Future,
}

/// The shim closure: `|object, args.., first, cx| callback_start(Type::method(object, args..), first, cx)`
/// for a callback, `|object, request| callback_future(Type::method(object, request))` for
/// a web resource.
///
/// Spanned so that errors land on the user's signature: a wrong argument type (an unmet
/// `CallbackArg` bound) on the parameter's type, a wrong return type (an unmet
/// `CallbackReturn` bound) on the return type. (A wrong argument count is validate's
/// error, with the callback's signature; for a web resource, the closure's own.)
fn shim(ty: &syn::Type, sig: &syn::Signature, paths: &CorePaths, form: ShimForm) -> TokenStream {
    let private = paths.private_at(sig.ident.span());
    let method = &sig.ident;
    let args = shim_args(sig);
    // Each argument goes through `callback_arg`, spanned on the parameter's type: a wrong
    // type is "expected <the callback's type>, found <the author's>", on the author's.
    let passed = sig.inputs.iter().skip(1).zip(&args).map(|(input, arg)| {
        let ty = match input {
            syn::FnArg::Typed(typed) => typed.ty.to_token_stream(),
            syn::FnArg::Receiver(receiver) => receiver.to_token_stream(),
        };
        // The call runs from the type's first token to its last (its parentheses), so the
        // error underlines the whole type.
        let first = ty.clone().into_iter().next().map_or_else(|| input.span(), |token| token.span());
        let last = ty.into_iter().last().map_or(first, |token| token.span());
        let private = paths.private_at(first);
        let mut parens = Group::new(Delimiter::Parenthesis, quote!(#arg));
        parens.set_span(last);
        quote_spanned!(first=> #private::callback_arg #parens)
    });
    let call = quote_spanned! {sig.ident.span()=>
        <#ty>::#method(#private::downcast::<#ty>(__mxmod_object), #(#passed),*)
    };
    let output_span = match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    let private = paths.private_at(output_span);
    let params_span = sig.paren_token.span.join();
    let (params, body) = match form {
        ShimForm::Slot => (
            quote_spanned!(params_span=> |__mxmod_object, #(#args,)* __mxmod_first, __mxmod_cx|),
            quote_spanned!(output_span=> #private::callback_start(#call, __mxmod_first, __mxmod_cx)),
        ),
        ShimForm::Future => (
            quote_spanned!(params_span=> |__mxmod_object, #(#args),*|),
            quote_spanned!(output_span=> #private::callback_future(#call)),
        ),
    };
    quote! { #params #body }
}

fn callback_entry(
    ty: &syn::Type,
    name: &syn::LitStr,
    category: &Category,
    method: &MethodDef,
    n: usize,
    paths: &CorePaths,
) -> TokenStream {
    let (root, linkme) = (paths.root(), paths.linkme());
    let sig = &method.sig;
    let module_path = format_ident!("{}", category.name);
    let slice = format_ident!("{}", category.slice);
    let shim_enum = format_ident!("{}", category.shim_enum);
    let callback = &sig.ident;
    let shim = shim(ty, sig, paths, ShimForm::Slot);
    let static_name = format_ident!("__MXMOD_CALLBACK_{}", n);
    let (file, line) = location(sig);
    // The constructor named after the method, in the category's module of constructors:
    // a name that is no callback of the category is rustc's "cannot find function `x` in
    // module `spam_checker`", with its similar-name suggestion, on the method's name.
    let constructor = quote_spanned!(sig.ident.span()=> #module_path::#callback);
    let private = paths.private();
    quote! {
        #[#linkme::distributed_slice(#root::callbacks::#module_path::#slice)]
        #[linkme(crate = #linkme)]
        static #static_name: #root::callbacks::CallbackDescriptor<#root::callbacks::#module_path::#shim_enum> =
            #root::callbacks::CallbackDescriptor {
                module: #name,
                method: ::core::stringify!(#callback),
                file: #file,
                line: #line,
                callback: {
                    use #private::callbacks::#module_path;
                    #constructor(#shim)
                },
            };
    }
}

fn web_entry(ty: &syn::Type, name: &syn::LitStr, method: &MethodDef, n: usize, paths: &CorePaths) -> TokenStream {
    let (root, linkme) = (paths.root(), paths.linkme());
    let sig = &method.sig;
    let (path, http_method) = method.web_path.clone().unwrap_or_default();
    let http_method = match http_method {
        Some(http_method) => quote!(::core::option::Option::Some(#http_method)),
        None => quote!(::core::option::Option::None),
    };
    let callback = &sig.ident;
    let shim = shim(ty, sig, paths, ShimForm::Future);
    let static_name = format_ident!("__MXMOD_WEB_{}", n);
    let (file, line) = location(sig);
    quote! {
        #[#linkme::distributed_slice(#root::registry::MXMOD_WEB_RESOURCES)]
        #[linkme(crate = #linkme)]
        static #static_name: #root::web::WebResourceDescriptor = #root::web::WebResourceDescriptor {
            module: #name,
            path: #path,
            http_method: #http_method,
            method: ::core::stringify!(#callback),
            file: #file,
            line: #line,
            handler: #shim,
        };
    }
}

fn cached_entry(name: &syn::LitStr, method: &MethodDef, n: usize, paths: &CorePaths) -> TokenStream {
    let (root, linkme) = (paths.root(), paths.linkme());
    let callback = &method.sig.ident;
    let max_size = method.max_size;
    let static_name = format_ident!("__MXMOD_CACHED_{}", n);
    quote! {
        #[#linkme::distributed_slice(#root::registry::MXMOD_CACHED_FNS)]
        #[linkme(crate = #linkme)]
        static #static_name: #root::registry::CachedFnDescriptor = #root::registry::CachedFnDescriptor {
            module: #name,
            method: ::core::stringify!(#callback),
            max_size: #max_size,
        };
    }
}
