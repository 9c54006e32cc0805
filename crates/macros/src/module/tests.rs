//! Unit tests of `#[module]`: error texts and spans of parse and validate, and what expand emits.

use proc_macro2::{TokenStream, TokenTree};
use quote::quote;

use crate::module::expand;

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
    assert_eq!(
        error,
        "unknown `#[module]` argument `nmae`; expected `name = \"my_module\"` or `crate = path::to::mxmod`"
    );
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
    assert_eq!(errors.len(), 5, "{errors:#?}");
    assert!(errors.iter().any(|e| e.starts_with("`user_may_invite` takes 3 arguments")), "{errors:#?}");
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

#[test]
fn a_callback_under_the_wrong_category_names_its_category() {
    let error = only_error(
        name(),
        module_with(quote! {
            #[spam_checker]
            async fn on_new_event(&self, event: &Event, state: &StateMap) {}
        }),
    );
    assert_eq!(
        error,
        "`on_new_event` is a `third_party_rules` callback, not a `spam_checker` one: mark it `#[third_party_rules]`"
    );
}

#[test]
fn a_wrong_argument_count_quotes_the_callbacks_signature() {
    let error = only_error(
        name(),
        module_with(quote! {
            #[spam_checker]
            async fn user_may_create_room(&self, user: &UserId) -> SpamCheck { body() }
        }),
    );
    assert_eq!(
        error,
        "`user_may_create_room` takes 2 arguments after `&self`, found 1: write \
         `async fn user_may_create_room(&self, user_id: &UserId, room_config: &JsonObject) -> SpamCheck`"
    );
    let error = only_error(
        name(),
        module_with(quote! {
            #[account_validity]
            async fn is_user_expired(&self, user: &UserId, now: u64) -> Option<bool> { body() }
        }),
    );
    assert_eq!(
        error,
        "`is_user_expired` takes 1 argument after `&self`, found 2: write \
         `async fn is_user_expired(&self, user_id: &UserId) -> Option<bool>`"
    );
    // A name of no callback has no count to check: rustc names the missing function.
    let out = expand(
        name(),
        module_with(quote! {
            #[spam_checker]
            async fn user_may_fly(&self) -> SpamCheck { body() }
        }),
    );
    assert!(compile_errors(&out).is_empty());
}

#[test]
fn each_argument_is_passed_through_callback_arg() {
    let out = expand(
        name(),
        module_with(quote! {
            #[spam_checker]
            async fn user_may_invite(&self, a: &UserId, b: &UserId, r: &RoomId) -> SpamCheck { body() }
        }),
    );
    let text = out.to_string();
    assert_eq!(text.matches("__private :: callback_arg (__mxmod_arg").count(), 3, "{text}");
}

#[test]
fn cfg_attributes_gate_the_registrations() {
    let out = expand(
        name(),
        module_with(quote! {
            #[cfg(feature = "x")]
            #[spam_checker]
            async fn user_may_invite(&self, a: &UserId, b: &UserId, r: &RoomId) -> SpamCheck { body() }
        }),
    );
    let text = out.to_string();
    let gated = text.find("# [cfg (feature = \"x\")] # [:: mxmod :: __private :: linkme :: distributed_slice");
    assert!(gated.is_some(), "the slice entry carries the method's cfg: {text}");
}

#[test]
fn a_crate_override_roots_every_generated_path() {
    let out = expand(
        quote!(name = "demo", crate = my::reexport),
        module_with(quote! {
            #[spam_checker]
            async fn user_may_invite(&self, a: &UserId, b: &UserId, r: &RoomId) -> SpamCheck { body() }
        }),
    );
    let text = out.to_string();
    assert!(text.contains("my :: reexport :: registry :: MXMOD_MODULES"), "{text}");
    assert!(!text.contains(":: mxmod ::"), "{text}");
}
