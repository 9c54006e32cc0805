//! `#[module(name = "...")]` on an inherent `impl` block: parse → validate → expand.
//!
//! Expansion keeps the impl block (minus the category attributes) and adds, in one
//! `const _: () = { ... };`, a linkme slice entry for the module and one per method: a
//! callback shim, a web-resource shim or a cache listing.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::{spanned::Spanned, FnArg, ImplItem, ImplItemFn, ItemImpl, ReturnType};

use crate::{
    cached,
    category::{classify, Category, MethodKind},
    ctxt::Ctxt,
    web_method, web_path,
};

/// Entry point.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let name = parse_name(args, &mut cx);
    let mut block: ItemImpl = match syn::parse2(item.clone()) {
        Ok(block) => block,
        Err(_) => {
            cx.push(not_an_impl_block(&item));
            let errors = cx.into_compile_errors();
            return quote! { #errors #item };
        }
    };
    check_impl_block(&block, &mut cx);
    let (methods, attr_paths) = collect_methods(&mut block, &mut cx);
    // The category attributes are consumed or rewritten here; naming their paths keeps the
    // user's imports of them used, whether or not the expansion succeeds.
    let keep_imports_used = quote! { #(#[allow(unused_imports)] use #attr_paths as _;)* };
    match name {
        Some(name) if cx.is_ok() => {
            let registrations = registrations(&block, &name, &methods);
            quote! {
                #block
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
            let key = meta.path.to_token_stream().to_string().replace(' ', "");
            Err(meta.error(format!("unknown `#[module]` argument `{key}`; expected `name = \"my_module\"`")))
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
    /// `#[web_resource("...")]` path and HTTP method.
    web_path: Option<(String, Option<String>)>,
    /// `#[cached(...)]` size.
    max_size: usize,
    sig: syn::Signature,
}

/// Finds the marked methods, validates them, strips category attributes and rewrites
/// `#[cached]` to its absolute path. Also returns the attribute paths as the user wrote
/// them.
fn collect_methods(block: &mut ItemImpl, cx: &mut Ctxt) -> (Vec<Method>, Vec<syn::Path>) {
    let mut methods = Vec::new();
    let mut attr_paths = Vec::new();
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else { continue };
        let found: Vec<(MethodKind, syn::Attribute)> =
            method.attrs.iter().filter_map(|attr| Some((classify(attr)?, attr.clone()))).collect();
        attr_paths.extend(found.iter().map(|(_, attr)| attr.path().clone()));
        let mut found = found.into_iter();
        let Some((kind, attr)) = found.next() else { continue };
        let extras: Vec<syn::Attribute> = found.map(|(_, extra)| extra).collect();
        if !extras.is_empty() {
            // Rule: a method carries one mxmod attribute. The method is kept without any
            // of them, so the error is not followed by the other attributes' own.
            for extra in &extras {
                cx.error_spanned(
                    extra,
                    format!(
                        "`#[{}]` cannot be combined with `#[{}]`: a method carries one mxmod attribute; \
                         split it into two methods",
                        attr_name(extra),
                        attr_name(&attr)
                    ),
                );
            }
            method.attrs.retain(|attr| classify(attr).is_none());
            continue;
        }
        // `#[cached]` stays on the method and expands there; the other attributes are ours.
        method.attrs.retain(|attr| matches!(classify(attr), None | Some(MethodKind::Cached)));
        for attr in &mut method.attrs {
            if matches!(classify(attr), Some(MethodKind::Cached)) {
                rewrite_cached_path(attr);
            }
        }
        if let Some(method) = validate_method(method, kind, &attr, cx) {
            methods.push(method);
        }
    }
    (methods, attr_paths)
}

/// The attribute's name as written, without its arguments (`spam_checker`, `mxmod::cached`).
fn attr_name(attr: &syn::Attribute) -> String {
    attr.path().to_token_stream().to_string().replace(' ', "")
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
        MethodKind::WebResource => web = web_resource_path(attr, cx),
        MethodKind::Cached => {
            let args = match &attr.meta {
                syn::Meta::List(list) => list.tokens.clone(),
                _ => TokenStream::new(),
            };
            // Argument errors are reported by the `#[cached]` expansion itself.
            max_size = cached::parse_args(args, &mut Ctxt::default()).max_size;
            return Some(Method { kind, web_path: None, max_size, sig: sig.clone() });
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
    Some(Method { kind, web_path: web, max_size, sig: sig.clone() })
}

/// The mount path and HTTP method of `#[web_resource("/path", method = "GET")]`, if the
/// path is a valid string literal (argument rules in `web_method.rs`).
fn web_resource_path(attr: &syn::Attribute, cx: &mut Ctxt) -> Option<(String, Option<String>)> {
    use web_method::EXAMPLE;
    let syn::Meta::List(list) = &attr.meta else {
        cx.error_spanned(attr, format!("`#[web_resource]` needs the path it serves: {EXAMPLE}"));
        return None;
    };
    if list.tokens.is_empty() {
        cx.error_spanned(attr, format!("`#[web_resource]` needs the path it serves: {EXAMPLE}"));
        return None;
    }
    let web_method::WebArgs { path, method } = web_method::parse(list.tokens.clone(), cx)?;
    // Rule: the path passes the same check `ResourcePath::parse` makes at run time.
    match web_path::problem(&path.value()) {
        Some(reason) => {
            cx.error_spanned(&path, format!("invalid web resource path: {reason}"));
            None
        }
        None => Some((path.value(), method)),
    }
}

/// The slice entries of the module and its methods.
fn registrations(block: &ItemImpl, name: &syn::LitStr, methods: &[Method]) -> TokenStream {
    let ty = &block.self_ty;
    let ty_span = ty.span();
    // One trait, one error if the type is not a `Module`, on the type.
    let parse_config = quote_spanned!(ty_span=> <#ty as ::mxmod::__private::ModuleType>::PARSE_CONFIG);
    let instantiate = quote_spanned!(ty_span=> <#ty as ::mxmod::__private::ModuleType>::INSTANTIATE);
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

/// The shim closure: `|object, args..| callback_future(async move { Type::method(object, args..).await })`.
///
/// Spanned so that errors land on the user's signature: a wrong argument count on the
/// parameter list (the closure has as many parameters as the method), a wrong argument
/// type on the argument, a wrong return type (an unmet `CallbackReturn` bound) on the
/// return type.
fn shim(ty: &syn::Type, sig: &syn::Signature) -> TokenStream {
    let method = &sig.ident;
    let args = shim_args(sig);
    let call = quote_spanned! {sig.ident.span()=>
        <#ty>::#method(::mxmod::__private::downcast::<#ty>(__mxmod_object), #(#args),*).await
    };
    let output_span = match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    let body = quote_spanned! {output_span=>
        ::mxmod::__private::callback_future(async move { ::mxmod::__private::CallbackReturn::into_answer(#call) })
    };
    let params_span = sig.paren_token.span.join();
    let params = quote_spanned!(params_span=> |__mxmod_object, #(#args),*|);
    quote! { #params #body }
}

fn callback_entry(ty: &syn::Type, name: &syn::LitStr, category: &Category, method: &Method, n: usize) -> TokenStream {
    let sig = &method.sig;
    let module_path = format_ident!("{}", category.name);
    let slice = format_ident!("{}", category.slice);
    let shim_enum = format_ident!("{}", category.shim_enum);
    let callback = &sig.ident;
    let shim = shim(ty, sig);
    let static_name = format_ident!("__MXMOD_CALLBACK_{}", n);
    // The constructor named after the method, in the category's module: a name that is no
    // callback of the category is rustc's "cannot find function `x` in module
    // `spam_checker`", with its similar-name suggestion, on the method's name.
    let constructor = quote_spanned!(sig.ident.span()=> #module_path::#callback);
    quote! {
        #[::mxmod::__private::linkme::distributed_slice(::mxmod::callbacks::#module_path::#slice)]
        #[linkme(crate = ::mxmod::__private::linkme)]
        static #static_name: ::mxmod::callbacks::CallbackDescriptor<::mxmod::callbacks::#module_path::#shim_enum> =
            ::mxmod::callbacks::CallbackDescriptor {
                module: #name,
                method: ::core::stringify!(#callback),
                file: ::core::file!(),
                line: ::core::line!(),
                callback: {
                    use ::mxmod::callbacks::#module_path;
                    #constructor(#shim)
                },
            };
    }
}

fn web_entry(ty: &syn::Type, name: &syn::LitStr, method: &Method, n: usize) -> TokenStream {
    let sig = &method.sig;
    let (path, http_method) = method.web_path.clone().unwrap_or_default();
    let http_method = match http_method {
        Some(http_method) => quote!(::core::option::Option::Some(#http_method)),
        None => quote!(::core::option::Option::None),
    };
    let callback = &sig.ident;
    let shim = shim(ty, sig);
    let static_name = format_ident!("__MXMOD_WEB_{}", n);
    quote! {
        #[::mxmod::__private::linkme::distributed_slice(::mxmod::registry::MXMOD_WEB_RESOURCES)]
        #[linkme(crate = ::mxmod::__private::linkme)]
        static #static_name: ::mxmod::web::WebResourceDescriptor = ::mxmod::web::WebResourceDescriptor {
            module: #name,
            path: #path,
            http_method: #http_method,
            method: ::core::stringify!(#callback),
            file: ::core::file!(),
            line: ::core::line!(),
            handler: #shim,
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

#[cfg(test)]
pub(crate) mod tests {
    use proc_macro2::{TokenStream, TokenTree};
    use quote::quote;

    use super::expand;

    /// The messages of the `compile_error!`s in an expansion, in order.
    pub(crate) fn compile_errors(tokens: &TokenStream) -> Vec<String> {
        let mut messages = Vec::new();
        let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
        for (n, tree) in trees.iter().enumerate() {
            match tree {
                TokenTree::Ident(ident) if ident == "compile_error" => {
                    if let Some(TokenTree::Group(group)) = trees.get(n + 2) {
                        let message: syn::LitStr = syn::parse2(group.stream()).expect("a string literal");
                        messages.push(message.value());
                    }
                }
                TokenTree::Group(group) => messages.extend(compile_errors(&group.stream())),
                _ => {}
            }
        }
        messages
    }

    /// The one error an expansion reports.
    fn only_error(args: TokenStream, item: TokenStream) -> String {
        let errors = compile_errors(&expand(args, item));
        assert_eq!(errors.len(), 1, "expected exactly one error, got {errors:#?}");
        errors.into_iter().next().unwrap_or_default()
    }

    fn module_with(method: TokenStream) -> TokenStream {
        quote! {
            impl Demo {
                #method
            }
        }
    }

    fn name() -> TokenStream {
        quote!(name = "demo")
    }

    #[test]
    fn a_valid_module_registers_itself_and_its_callbacks() {
        let out = expand(
            name(),
            module_with(quote! {
                #[spam_checker]
                async fn user_may_create_room(&self, user: &UserId, config: &JsonObject) -> SpamCheck {
                    SpamCheck::NOT_SPAM
                }
            }),
        );
        assert!(compile_errors(&out).is_empty());
        let text = out.to_string();
        assert!(text.contains("__MXMOD_MODULE"), "{text}");
        assert!(text.contains("spam_checker :: user_may_create_room"), "the constructor is named after the method");
        assert!(text.contains("use spam_checker as _"), "the user's import of the attribute stays used");
        assert!(!text.contains("# [spam_checker]"), "the category attribute is consumed");
    }

    #[test]
    fn cached_stays_on_the_method_with_an_absolute_path() {
        let out = expand(
            name(),
            module_with(quote! {
                #[cached(max_size = 5)]
                async fn length(&self, text: String) -> usize { text.len() }
            }),
        );
        assert!(compile_errors(&out).is_empty());
        let text = out.to_string();
        assert!(text.contains("# [:: mxmod :: cached (max_size = 5)]"), "{text}");
        assert!(text.contains("max_size : 5usize"), "{text}");
    }

    #[test]
    fn the_name_is_required() {
        let error = only_error(quote!(), module_with(quote!()));
        assert_eq!(
            error,
            "missing module name: write `#[module(name = \"my_module\")]`; operators list it as `- module: my_module`"
        );
    }

    #[test]
    fn a_second_name_is_an_error() {
        let error = only_error(quote!(name = "demo", name = "other"), module_with(quote!()));
        assert_eq!(error, "duplicate `name`: a module has exactly one name");
    }

    #[test]
    fn an_unknown_argument_is_named() {
        let error = only_error(quote!(nmae = "demo"), module_with(quote!()));
        assert_eq!(error, "unknown `#[module]` argument `nmae`; expected `name = \"my_module\"`");
    }

    #[test]
    fn a_name_operators_cannot_write_is_an_error() {
        let error = only_error(quote!(name = "my module"), module_with(quote!()));
        assert!(error.starts_with("a module name is what operators write after `module:`"), "{error}");
    }

    #[test]
    fn module_on_a_struct_says_where_it_goes() {
        let error = only_error(
            name(),
            quote!(
                struct Demo;
            ),
        );
        assert_eq!(
            error,
            "`#[module(name = \"...\")]` goes on the inherent `impl` block holding the module's callbacks \
             (`impl Demo { ... }`), not on a struct"
        );
        let error = only_error(
            name(),
            quote!(
                fn demo() {}
            ),
        );
        assert!(error.ends_with("(`impl MyModule { ... }`), not on a function"), "{error}");
    }

    #[test]
    fn module_on_a_trait_impl_or_a_generic_impl_is_an_error() {
        let error = only_error(name(), quote!(impl Greet for Demo {}));
        assert!(error.ends_with("not on a trait impl"), "{error}");
        let error = only_error(
            name(),
            quote!(
                impl<T> Demo<T> {}
            ),
        );
        assert!(error.starts_with("a module type cannot be generic"), "{error}");
    }

    #[test]
    fn callbacks_are_async_methods_taking_shared_self() {
        let error = only_error(
            name(),
            module_with(quote! {
                #[spam_checker]
                fn user_may_create_room(&self, user: &UserId, config: &JsonObject) -> SpamCheck { body() }
            }),
        );
        assert_eq!(
            error,
            "`#[spam_checker]` methods must be `async fn` (Synapse awaits every callback): \
             write `async fn user_may_create_room`"
        );
        for receiver in [quote!(), quote!(&mut self,), quote!(self,)] {
            let error = only_error(
                name(),
                module_with(quote! {
                    #[third_party_rules]
                    async fn on_new_event(#receiver event: &Event, state: &StateMap) {}
                }),
            );
            assert_eq!(
                error,
                "`#[third_party_rules]` methods take `&self` first: modules are shared between concurrent requests"
            );
        }
    }

    #[test]
    fn every_error_of_a_block_is_reported_in_one_pass_and_the_block_is_kept() {
        let out = expand(
            quote!(),
            module_with(quote! {
                #[spam_checker]
                fn user_may_invite(self) {}
                #[web_resource("relative")]
                async fn page(&self, request: WebRequest) -> WebResponse { body() }
            }),
        );
        let errors = compile_errors(&out);
        assert_eq!(errors.len(), 4, "{errors:#?}");
        let text = out.to_string();
        assert!(text.contains("impl Demo"), "the user's item is kept: {text}");
        assert!(text.contains("use spam_checker as _"), "imports stay used on error too: {text}");
        assert!(!text.contains("__MXMOD_MODULE"), "nothing is registered: {text}");
    }

    #[test]
    fn two_attributes_on_one_method_are_one_error_and_both_are_removed() {
        let out = expand(
            name(),
            module_with(quote! {
                #[spam_checker]
                #[cached]
                async fn user_may_create_room(&self, user: &UserId, config: &JsonObject) -> SpamCheck { body() }
            }),
        );
        assert_eq!(
            compile_errors(&out),
            ["`#[cached]` cannot be combined with `#[spam_checker]`: a method carries one mxmod attribute; \
              split it into two methods"]
        );
        assert!(!out.to_string().contains("cached ]"), "`#[cached]` does not expand and add errors of its own");
    }

    #[test]
    fn web_resource_paths_are_checked_at_compile_time() {
        let cases = [
            (quote!("_synapse/client/x"), "invalid web resource path: it must start with `/`"),
            (quote!("/_synapse/client/x/"), "invalid web resource path: it must not end with `/`"),
            (
                quote!("/_matrix/client/v3/x"),
                "invalid web resource path: paths under `/_matrix/` belong to the Matrix APIs; \
                 use `/_synapse/client/<module>/...`",
            ),
            (quote!("/_synapse//x"), "invalid web resource path: it must not contain an empty segment (`//`)"),
            (
                quote!(PATH),
                "the web resource path must be a string literal: \
                 `#[web_resource(\"/_synapse/client/my_module/path\")]`",
            ),
            (
                quote!(),
                "`#[web_resource]` needs the path it serves: `#[web_resource(\"/_synapse/client/my_module/path\")]`",
            ),
        ];
        for (path, expected) in cases {
            let error = only_error(
                name(),
                module_with(quote! {
                    #[web_resource(#path)]
                    async fn page(&self, request: WebRequest) -> WebResponse { body() }
                }),
            );
            assert_eq!(error, expected);
        }
    }

    #[test]
    fn a_web_resource_takes_the_request() {
        let error = only_error(
            name(),
            module_with(quote! {
                #[web_resource("/_synapse/client/x")]
                async fn page(&self) -> WebResponse { body() }
            }),
        );
        assert!(error.starts_with("a web resource takes `&self` and the request"), "{error}");
    }
}
