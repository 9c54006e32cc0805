//! `#[cached]`, stage 2: the rules for the method, one `check_*` each, turning it into the
//! [`Plan`] expand works from.

use syn::{FnArg, ImplItemFn, Pat, ReturnType, Type};

use crate::ctxt::Ctxt;

/// Rule: the cache lives in a field the module names; nothing is looked up by name.
pub(crate) fn check_field(field: Option<syn::Ident>, method: &ImplItemFn, cx: &mut Ctxt) -> Option<syn::Ident> {
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
pub(crate) struct Plan {
    /// Argument names (all plain identifiers).
    pub(crate) args: Vec<syn::Ident>,
    /// Argument types.
    pub(crate) arg_types: Vec<Type>,
    /// The declared return type.
    pub(crate) output: Type,
    /// For `Result<T, E>` returns: `T` (only `Ok` values are cached).
    pub(crate) ok_type: Option<Type>,
}

/// Checks the method; every problem is recorded.
pub(crate) fn method(method: &ImplItemFn, cx: &mut Ctxt) -> Option<Plan> {
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
pub(crate) fn key_problem(ty: &Type) -> Option<&'static str> {
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
pub(crate) fn result_ok_type(output: &Type) -> Option<Type> {
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
