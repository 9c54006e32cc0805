//! Unit tests of `#[cached]`: argument and method errors, and what expand emits.

use proc_macro2::TokenStream;
use quote::quote;

use crate::{
    cached::{
        expand_standalone,
        parse::{parse_args, DEFAULT_MAX_SIZE},
        validate::{key_problem, result_ok_type},
    },
    ctxt::Ctxt,
    module::tests::compile_errors,
};

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
