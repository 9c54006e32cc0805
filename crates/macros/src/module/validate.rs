//! `#[module]`, stage 2: the rules, one `check_*` function each, turning what parse found
//! into a [`ModuleDef`] that holds only validated data.

use proc_macro2::TokenStream;
use syn::{FnArg, ItemImpl};

use mxmod_common::{category_of, signature_of, web_path};

use crate::{
    cached,
    category::MethodKind,
    ctxt::Ctxt,
    module::parse::{self, MarkedMethod, ModuleArgs},
    web_method,
};

/// A valid module: what expand generates from.
pub(crate) struct ModuleDef {
    /// The module type (`impl <ty>`).
    pub(crate) ty: syn::Type,
    /// `name = "..."`.
    pub(crate) name: syn::LitStr,
    /// `#[cfg]`s on the impl block, copied onto the generated registrations.
    pub(crate) cfgs: Vec<syn::Attribute>,
    /// The marked methods, in source order.
    pub(crate) methods: Vec<MethodDef>,
}

/// A valid marked method.
pub(crate) struct MethodDef {
    /// What it is registered as.
    pub(crate) kind: MethodKind,
    /// `#[web_resource("...", method = "...")]` path, checked, and HTTP method if named.
    pub(crate) web_path: Option<(String, Option<String>)>,
    /// `#[cached(...)]` size.
    pub(crate) max_size: usize,
    /// The signature as the user wrote it (spans for generated code).
    pub(crate) sig: syn::Signature,
    /// `#[cfg]`s on the method, copied onto its registration.
    pub(crate) cfgs: Vec<syn::Attribute>,
}

/// Checks the block and its marked methods; every problem goes to `cx`.
pub(crate) fn module(
    block: &ItemImpl,
    args: ModuleArgs,
    marked: Vec<MarkedMethod>,
    cx: &mut Ctxt,
) -> Option<ModuleDef> {
    let name = if args.malformed { None } else { check_name(args.name, cx) };
    check_impl_block(block, cx);
    let methods: Vec<MethodDef> = marked.into_iter().filter_map(|marked| method(marked, cx)).collect();
    Some(ModuleDef { ty: (*block.self_ty).clone(), name: name?, cfgs: parse::cfgs(&block.attrs), methods })
}

/// Rule: a module has a name, and it is what operators write after `module:`.
fn check_name(name: Option<syn::LitStr>, cx: &mut Ctxt) -> Option<syn::LitStr> {
    let Some(name) = name else {
        cx.push(syn::Error::new(
            proc_macro2::Span::call_site(),
            "missing module name: write `#[module(name = \"my_module\")]`; operators list it as `- module: my_module`",
        ));
        return None;
    };
    let text = name.value();
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        cx.error_spanned(
            &name,
            "a module name is what operators write after `module:`: letters, digits, `_`, `-` and `.` only",
        );
        return None;
    }
    Some(name)
}

/// Rule: `#[module]` goes on an inherent, non-generic impl block.
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

/// One marked method, checked.
fn method(marked: MarkedMethod, cx: &mut Ctxt) -> Option<MethodDef> {
    let MarkedMethod { marks, method } = marked;
    if !check_one_mark(&marks, cx) {
        return None;
    }
    let (kind, attr) = marks.into_iter().next()?;
    let sig = method.sig;
    let cfgs = parse::cfgs(&method.attrs);
    match kind {
        MethodKind::Cached => {
            // Argument errors are reported by the `#[cached]` expansion itself.
            let args = match &attr.meta {
                syn::Meta::List(list) => list.tokens.clone(),
                _ => TokenStream::new(),
            };
            let max_size = cached::parse_args(args, &mut Ctxt::default()).max_size;
            Some(MethodDef { kind, web_path: None, max_size, sig, cfgs })
        }
        MethodKind::WebResource => {
            check_callback_shape(&sig, "web_resource", cx);
            check_web_resource_arguments(&sig, cx);
            let web_path = web_resource_path(&attr, cx);
            Some(MethodDef { kind, web_path, max_size: 0, sig, cfgs })
        }
        MethodKind::Callback(category) => {
            check_callback_shape(&sig, category.name, cx);
            if !check_category(&sig, category.name, &attr, cx) || !check_argument_count(&sig, cx) {
                return None;
            }
            Some(MethodDef { kind, web_path: None, max_size: 0, sig, cfgs })
        }
    }
}

/// Rule: a method carries one mxmod attribute. Each extra one is an error.
fn check_one_mark(marks: &[(MethodKind, syn::Attribute)], cx: &mut Ctxt) -> bool {
    let Some(((_, first), extras)) = marks.split_first() else { return false };
    for (_, extra) in extras {
        cx.error_spanned(
            extra,
            format!(
                "`#[{}]` cannot be combined with `#[{}]`: a method carries one mxmod attribute; \
                 split it into two methods",
                parse::attr_name(extra),
                parse::attr_name(first)
            ),
        );
    }
    extras.is_empty()
}

/// Rule: a callback is marked with the category it belongs to. A name of another
/// category says which; a name of none is left to rustc ("cannot find function `x` in
/// module `spam_checker`", with its similar-name suggestion).
fn check_category(sig: &syn::Signature, marked: &str, attr: &syn::Attribute, cx: &mut Ctxt) -> bool {
    let name = sig.ident.to_string();
    match category_of(&name) {
        Some(category) if category.name != marked => {
            cx.error_spanned(
                attr,
                format!(
                    "`{name}` is a `{}` callback, not a `{marked}` one: mark it `#[{}]`",
                    category.name, category.name
                ),
            );
            false
        }
        _ => true,
    }
}

/// Rule: a callback takes the arguments its table row lists, after `&self`. A wrong
/// count quotes the callback's signature (a name of no callback is left to rustc; a
/// missing `&self` is `check_callback_shape`'s error).
fn check_argument_count(sig: &syn::Signature, cx: &mut Ctxt) -> bool {
    let Some(signature) = signature_of(&sig.ident.to_string()) else { return true };
    if !matches!(sig.inputs.first(), Some(FnArg::Receiver(_))) {
        return true;
    }
    let found = sig.inputs.len() - 1;
    if found == signature.arguments {
        return true;
    }
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    cx.error_spanned(
        &sig.inputs,
        format!(
            "`{}` takes {} {} after `&self`, found {found}: write `{}`",
            sig.ident,
            signature.arguments,
            plural(signature.arguments),
            signature.text
        ),
    );
    false
}

/// Rule: callbacks and web resources are non-generic `async fn`s taking `&self` first.
fn check_callback_shape(sig: &syn::Signature, what: &str, cx: &mut Ctxt) {
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
}

/// Rule: a web resource takes `&self` and the request.
fn check_web_resource_arguments(sig: &syn::Signature, cx: &mut Ctxt) {
    if sig.inputs.len() != 2 {
        cx.error_spanned(
            &sig.inputs,
            "a web resource takes `&self` and the request: `async fn handler(&self, request: WebRequest) -> WebResponse`",
        );
    }
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
