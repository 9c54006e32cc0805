//! `#[cached(cache = field)]`: parse → validate → expand a per-instance LRU around an
//! `async fn` method. The cache lives in the module's own field (named by `cache =`,
//! created in `new` with the generated `Self::<method>_new_cache(&api)`); calls reach
//! it through that field.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{FnArg, ImplItemFn, Pat, ReturnType, Type};

use crate::{ctxt::Ctxt, paths::CorePaths};

/// The LRU size when the attribute does not set one.
const DEFAULT_MAX_SIZE: usize = 1000;

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

/// `#[cached]` used directly (it also works inside `#[module]`, which forwards to it).
pub(crate) fn expand_standalone(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let parsed_args = parse_args(args, &mut cx);
    // After an argument error the rest of the list was not read: no "missing field" too.
    let args_read = cx.is_ok();
    let method: ImplItemFn = match syn::parse2(item.clone()) {
        Ok(method) => method,
        Err(_) => {
            cx.push(syn::Error::new(
                Span::call_site(),
                "`#[cached]` goes on an `async fn` method (taking `&self`) of a module's `impl` block",
            ));
            let errors = cx.into_compile_errors();
            return quote! { #errors #item };
        }
    };
    let plan = validate(&method, &mut cx);
    let field = if args_read { check_field(parsed_args.field.clone(), &method, &mut cx) } else { None };
    match (plan, field) {
        (Some(plan), Some(field)) if cx.is_ok() => expand(&method, &plan, &parsed_args, &field),
        _ => {
            let errors = cx.into_compile_errors();
            quote! { #errors #method }
        }
    }
}

/// Rule: the cache lives in a field the module names; nothing is looked up by name.
fn check_field(field: Option<syn::Ident>, method: &ImplItemFn, cx: &mut Ctxt) -> Option<syn::Ident> {
    if field.is_none() {
        let name = &method.sig.ident;
        cx.error_spanned(
            name,
            format!(
                "`#[cached]` needs `cache = field`: the module's field of type `mxmod::cache::CacheHandle<Key, Value>` \
                 holding this method's cache, created in `new` with `Self::{name}_new_cache(&api)`"
            ),
        );
    }
    field
}

/// What expansion needs from a valid method.
struct Plan {
    /// Argument names (all plain identifiers).
    args: Vec<syn::Ident>,
    /// Argument types.
    arg_types: Vec<Type>,
    /// The declared return type.
    output: Type,
    /// For `Result<T, E>` returns: `T` (only `Ok` values are cached).
    ok_type: Option<Type>,
}

/// Checks the method; every problem is recorded.
fn validate(method: &ImplItemFn, cx: &mut Ctxt) -> Option<Plan> {
    let sig = &method.sig;
    if sig.asyncness.is_none() {
        cx.error_spanned(
            sig.fn_token,
            "`#[cached]` works on `async fn` only: its value is computed once and then served from the cache",
        );
    }
    match sig.inputs.first() {
        Some(FnArg::Receiver(receiver)) if receiver.reference.is_some() && receiver.mutability.is_none() => {}
        _ => cx
            .error_spanned(&sig.ident, "`#[cached]` needs a method taking `&self` (the cache belongs to the instance)"),
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned(&sig.generics, "`#[cached]` methods cannot be generic: the cache has one key type");
    }
    let mut args = Vec::new();
    let mut arg_types = Vec::new();
    for input in sig.inputs.iter().skip(1) {
        let FnArg::Typed(typed) = input else { continue };
        if let Some(problem) = key_problem(&typed.ty) {
            cx.error_spanned(
                &typed.ty,
                format!(
                    "this argument cannot be a cache key: {problem}; take an owned type (`String`, not `&str`): \
                     keys are `Clone + Hash + Eq + Send + 'static`"
                ),
            );
        }
        match &*typed.pat {
            Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => args.push(ident.ident.clone()),
            other => cx.error_spanned(other, "`#[cached]` arguments must be plain names (`user_id: String`)"),
        }
        arg_types.push((*typed.ty).clone());
    }
    let output = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let ok_type = result_ok_type(&output);
    Some(Plan { args, arg_types, output, ok_type })
}

/// Why a type cannot be an owned hash key, if it cannot.
fn key_problem(ty: &Type) -> Option<&'static str> {
    match ty {
        Type::Reference(_) => Some("it is a reference"),
        Type::ImplTrait(_) => Some("it is an `impl Trait`"),
        Type::TraitObject(_) => Some("it is a trait object"),
        Type::Ptr(_) => Some("it is a raw pointer"),
        Type::BareFn(_) => Some("it is a function pointer"),
        Type::Slice(_) => Some("it is a slice"),
        Type::Paren(inner) => key_problem(&inner.elem),
        Type::Tuple(tuple) => tuple.elems.iter().find_map(key_problem),
        Type::Array(array) => key_problem(&array.elem),
        Type::Path(path) => path.path.segments.iter().find_map(|segment| match &segment.arguments {
            syn::PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
                syn::GenericArgument::Type(inner) => key_problem(inner),
                syn::GenericArgument::Lifetime(_) => Some("it borrows (has a lifetime)"),
                _ => None,
            }),
            _ => None,
        }),
        _ => None,
    }
}

/// `T` of a return type spelled `Result<T, ...>` (any path ending in `Result`).
fn result_ok_type(output: &Type) -> Option<Type> {
    let Type::Path(path) = output else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.first()? {
        syn::GenericArgument::Type(ok) => Some(ok.clone()),
        _ => None,
    }
}

/// The rewritten method, its cache accessor and its cache constructor.
fn expand(method: &ImplItemFn, plan: &Plan, args: &CachedArgs, field: &syn::Ident) -> TokenStream {
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

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    use super::{expand_standalone, key_problem, parse_args, result_ok_type, DEFAULT_MAX_SIZE};
    use crate::{ctxt::Ctxt, module::tests::compile_errors};

    /// The errors of `#[cached(args)]`, `cache = c` added to every argument list.
    fn errors_of(args: TokenStream, item: TokenStream) -> Vec<String> {
        let args = if args.is_empty() { quote!(cache = c) } else { quote!(cache = c, #args) };
        compile_errors(&expand_standalone(args, item))
    }

    #[test]
    fn the_cache_field_is_required() {
        let out = expand_standalone(
            quote!(max_size = 3),
            quote!(
                async fn length(&self, text: String) -> usize {
                    text.len()
                }
            ),
        );
        assert_eq!(
            compile_errors(&out),
            ["`#[cached]` needs `cache = field`: the module's field of type `mxmod::cache::CacheHandle<Key, Value>` \
              holding this method's cache, created in `new` with `Self::length_new_cache(&api)`"]
        );
    }

    #[test]
    fn max_size_defaults_and_is_read() {
        let mut cx = Ctxt::default();
        assert_eq!(parse_args(quote!(), &mut cx).max_size, DEFAULT_MAX_SIZE);
        assert_eq!(parse_args(quote!(max_size = 10_000), &mut cx).max_size, 10_000);
        assert!(cx.is_ok());
        let parsed = parse_args(quote!(cache = lengths, crate = my::mxmod), &mut cx);
        assert_eq!(parsed.field.map(|field| field.to_string()).as_deref(), Some("lengths"));
        assert!(parsed.krate.is_some() && cx.is_ok());
    }

    #[test]
    fn bad_arguments_are_errors() {
        let method = quote!(
            async fn length(&self, text: String) -> usize {
                text.len()
            }
        );
        assert_eq!(errors_of(quote!(max_size = 0), method.clone()), ["`max_size` must be at least 1"]);
        assert_eq!(
            errors_of(quote!(size = 3), method.clone()),
            ["unknown `#[cached]` argument; expected `cache = field` (required), `max_size = N` (default 1000) \
              or `crate = path`"]
        );
        assert_eq!(errors_of(quote!(max_size = "big"), method).len(), 1);
    }

    #[test]
    fn a_valid_method_gets_its_cache_handle() {
        let out = expand_standalone(
            quote!(cache = lengths),
            quote!(
                async fn length(&self, text: String) -> usize {
                    text.len()
                }
            ),
        );
        assert!(compile_errors(&out).is_empty());
        let text = out.to_string();
        assert!(
            text.contains("fn length_cache (& self) -> & :: mxmod :: cache :: CacheHandle < String , usize >"),
            "{text}"
        );
    }

    #[test]
    fn several_arguments_make_a_tuple_key_and_results_cache_their_ok_value() {
        let out = expand_standalone(
            quote!(cache = c),
            quote!(
                async fn get(&self, a: String, b: u32) -> Result<Vec<u8>, CallbackError> {
                    body()
                }
            ),
        );
        assert!(compile_errors(&out).is_empty());
        assert!(out.to_string().contains("CacheHandle < (String , u32 ,) , Vec < u8 > >"), "{out}");
    }

    #[test]
    fn only_async_methods_taking_shared_self_are_cached() {
        assert_eq!(
            errors_of(
                quote!(),
                quote!(
                    fn length(&self, text: String) -> usize {
                        text.len()
                    }
                )
            ),
            ["`#[cached]` works on `async fn` only: its value is computed once and then served from the cache"]
        );
        assert_eq!(
            errors_of(
                quote!(),
                quote!(
                    async fn length(text: String) -> usize {
                        text.len()
                    }
                )
            ),
            ["`#[cached]` needs a method taking `&self` (the cache belongs to the instance)"]
        );
        assert_eq!(
            errors_of(
                quote!(),
                quote!(
                    async fn length<T>(&self, text: T) -> usize {
                        0
                    }
                )
            ),
            ["`#[cached]` methods cannot be generic: the cache has one key type"]
        );
        assert_eq!(
            errors_of(
                quote!(),
                quote!(
                    async fn length(&self, (a, b): (String, String)) -> usize {
                        0
                    }
                )
            ),
            ["`#[cached]` arguments must be plain names (`user_id: String`)"]
        );
        assert_eq!(
            errors_of(
                quote!(),
                quote!(
                    struct Demo;
                )
            ),
            ["`#[cached]` goes on an `async fn` method (taking `&self`) of a module's `impl` block"]
        );
    }

    #[test]
    fn a_borrowed_argument_cannot_be_a_key() {
        assert_eq!(
            errors_of(
                quote!(),
                quote!(
                    async fn length(&self, text: &str) -> usize {
                        text.len()
                    }
                )
            ),
            ["this argument cannot be a cache key: it is a reference; take an owned type (`String`, not `&str`): \
              keys are `Clone + Hash + Eq + Send + 'static`"]
        );
    }

    #[test]
    fn key_problems_are_found_inside_types() {
        let problem = |ty: syn::Type| key_problem(&ty);
        assert_eq!(problem(syn::parse_quote!(String)), None);
        assert_eq!(problem(syn::parse_quote!((String, u64))), None);
        assert_eq!(problem(syn::parse_quote!(Vec<String>)), None);
        assert_eq!(problem(syn::parse_quote!(&str)), Some("it is a reference"));
        assert_eq!(problem(syn::parse_quote!((String, &str))), Some("it is a reference"));
        assert_eq!(problem(syn::parse_quote!(Vec<&str>)), Some("it is a reference"));
        assert_eq!(problem(syn::parse_quote!(Cow<'a, str>)), Some("it borrows (has a lifetime)"));
        assert_eq!(problem(syn::parse_quote!(impl Hash)), Some("it is an `impl Trait`"));
        assert_eq!(problem(syn::parse_quote!([&str; 2])), Some("it is a reference"));
    }

    #[test]
    fn the_ok_type_of_a_result_is_what_is_cached() {
        let ok = |ty: syn::Type| result_ok_type(&ty).map(|ok| quote!(#ok).to_string());
        assert_eq!(ok(syn::parse_quote!(Result<String, CallbackError>)), Some("String".to_owned()));
        assert_eq!(ok(syn::parse_quote!(std::io::Result<u8>)), Some("u8".to_owned()));
        assert_eq!(ok(syn::parse_quote!(Option<String>)), None);
        assert_eq!(ok(syn::parse_quote!(String)), None);
    }
}
