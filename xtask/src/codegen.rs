//! `cargo xtask codegen [--check]`: writes `crates/core/docs/callbacks.md`, the Rust
//! signature of every callback, and `crates/common/src/signatures.rs`, the same
//! signatures for the macros' messages, from the category tables themselves
//! (`crates/core/src/callbacks/*.rs`, the `define_category!` rows) and the combination
//! rules (`rules.rs`: each rule's doc and the type the server gets). Each category's
//! signatures form one compiled doc test (`mxmod::callbacks::reference`), so the reference
//! cannot drift from the tables: a changed row changes the file (`--check` fails) and a
//! wrong signature fails the doc test.

use std::{fmt::Write as _, path::Path};

use quote::ToTokens;
use syn::{
    parse::{Parse, ParseStream},
    punctuated::Punctuated,
    visit_mut::VisitMut,
    Token,
};

use crate::{
    workspace::{self, Workspace},
    Error, Result,
};

/// Where the reference goes, relative to the workspace root.
pub(crate) const OUTPUT: &str = "crates/core/docs/callbacks.md";

/// Where the signatures the macros quote go, relative to the workspace root.
pub(crate) const SIGNATURES_OUTPUT: &str = "crates/common/src/signatures.rs";

/// The category files, in the order of the reference.
const CATEGORIES: [&str; 9] = [
    "spam_checker",
    "third_party_rules",
    "account_validity",
    "presence_router",
    "password_auth_provider",
    "media_repository",
    "ratelimit",
    "account_data",
    "add_extra_fields_to_unsigned_client_event",
];

/// The answer types an author names, all at the crate root.
const ROOT_ANSWERS: &str =
    "AuthResult, EventAllowed, InterestedUsers, LoginType, PresenceRouting, RatelimitOverride, RegistrationBehaviour, SpamCheck";

/// Options of `cargo xtask codegen`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Fail if the generated file is not up to date instead of writing it.
    #[arg(long)]
    check: bool,
}

/// Writes (or with `--check`, compares) the reference and the signatures.
pub(crate) fn run(workspace: &Workspace, args: &Args) -> Result<()> {
    let outputs = [(OUTPUT, generate(&workspace.root)?), (SIGNATURES_OUTPUT, generate_signatures(&workspace.root)?)];
    for (output, generated) in outputs {
        let path = workspace.root.join(output);
        if args.check {
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            if current != generated {
                return Err(Error::new(format!(
                    "{output} is out of date with the callback tables: run `cargo xtask codegen`"
                )));
            }
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
        }
        workspace::write(&path, &generated)?;
        println!("wrote {output}");
    }
    Ok(())
}

/// One row of a category table.
struct Row {
    docs: Vec<String>,
    name: syn::Ident,
    args: Vec<(syn::Ident, syn::Type)>,
    answer: syn::Type,
    rule: syn::Type,
    deny: syn::Expr,
    on_error: syn::Expr,
}

/// A `define_category!` invocation.
struct Table {
    docs: Vec<String>,
    category: syn::Ident,
    rows: Vec<Row>,
}

/// The text of `///` lines.
fn doc_lines(attrs: &[syn::Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value: syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(text), .. }),
                ..
            }) => Some(text.value().strip_prefix(' ').unwrap_or(&text.value()).to_owned()),
            _ => None,
        })
        .collect()
}

/// `key = <T>` in a row's `where` clause.
fn keyed<T: Parse>(input: ParseStream<'_>, key: &str) -> syn::Result<T> {
    let ident: syn::Ident = input.parse()?;
    if ident != key {
        return Err(syn::Error::new(ident.span(), format!("expected `{key}`")));
    }
    input.parse::<Token![=]>()?;
    input.parse()
}

impl Parse for Table {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let docs = doc_lines(&input.call(syn::Attribute::parse_outer)?);
        let _: syn::Ident = input.parse()?; // category
        let category: syn::Ident = input.parse()?;
        // `, slice X, enum Y, struct Z;`
        while !input.peek(Token![;]) {
            let _: proc_macro2::TokenTree = input.parse()?;
        }
        input.parse::<Token![;]>()?;
        let mut rows = Vec::new();
        while !input.is_empty() {
            let docs = doc_lines(&input.call(syn::Attribute::parse_outer)?);
            input.parse::<Token![fn]>()?;
            let name: syn::Ident = input.parse()?;
            let content;
            syn::parenthesized!(content in input);
            let args = Punctuated::<(syn::Ident, syn::Type), Token![,]>::parse_terminated_with(&content, |arg| {
                let name: syn::Ident = arg.parse()?;
                arg.parse::<Token![:]>()?;
                Ok((name, arg.parse()?))
            })?;
            input.parse::<Token![->]>()?;
            let answer: syn::Type = input.parse()?;
            input.parse::<Token![where]>()?;
            let rule = keyed(input, "rule")?;
            input.parse::<Token![,]>()?;
            let deny = keyed(input, "deny")?;
            input.parse::<Token![,]>()?;
            let on_error = keyed(input, "on_error")?;
            input.parse::<Token![;]>()?;
            rows.push(Row { docs, name, args: args.into_iter().collect(), answer, rule, deny, on_error });
        }
        Ok(Table { docs, category, rows })
    }
}

/// The table of a category file.
fn table(source: &str, file: &str) -> Result<Table> {
    let parsed = syn::parse_file(source).map_err(|e| Error::new(format!("{file}: {e}")))?;
    let invocation = parsed
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Macro(item) if item.mac.path.segments.last().is_some_and(|s| s.ident == "define_category") => {
                Some(&item.mac)
            }
            _ => None,
        })
        .ok_or_else(|| Error::new(format!("{file}: no `define_category!` table")))?;
    invocation.parse_body::<Table>().map_err(|e| Error::new(format!("{file}: {e}")))
}

/// A rule: its doc and the type the server's dispatcher answers.
struct RuleInfo {
    name: String,
    docs: Vec<String>,
    output: String,
}

fn rules(source: &str) -> Result<Vec<RuleInfo>> {
    let parsed = syn::parse_file(source).map_err(|e| Error::new(format!("rules.rs: {e}")))?;
    let mut rules: Vec<RuleInfo> = parsed
        .items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Enum(item) if item.variants.is_empty() => {
                Some(RuleInfo { name: item.ident.to_string(), docs: doc_lines(&item.attrs), output: String::new() })
            }
            // A generic rule over its answer type: `pub struct FirstSome<T>(PhantomData<..>)`.
            syn::Item::Struct(item) if !item.generics.params.is_empty() => {
                Some(RuleInfo { name: item.ident.to_string(), docs: doc_lines(&item.attrs), output: String::new() })
            }
            _ => None,
        })
        .collect();
    for item in &parsed.items {
        let syn::Item::Impl(block) = item else { continue };
        let Some((_, path, _)) = &block.trait_ else { continue };
        if !path.is_ident("Rule") {
            continue;
        }
        let name = rule_base(&rust(&*block.self_ty)).0.to_owned();
        let output = block.items.iter().find_map(|item| match item {
            syn::ImplItem::Type(ty) if ty.ident == "Output" => Some(rust(&ty.ty)),
            _ => None,
        });
        if let (Some(rule), Some(output)) = (rules.iter_mut().find(|r| r.name == name), output) {
            rule.output = output;
        }
    }
    Ok(rules)
}

/// Drops the `'a` of table types: `&'a Event` is `&Event` in a method signature.
struct ElideLifetimes;

impl VisitMut for ElideLifetimes {
    fn visit_type_reference_mut(&mut self, reference: &mut syn::TypeReference) {
        reference.lifetime = None;
        syn::visit_mut::visit_type_reference_mut(self, reference);
    }
}

/// Tokens as a person writes them: `Option<&str>`, not `Option < & str >`.
fn rust(tokens: &impl ToTokens) -> String {
    let text = tokens.to_token_stream().to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {
                let previous = out.chars().last();
                let next = chars.peek().copied();
                let glue = matches!(previous, Some('&' | '<' | '(' | '[' | ':'))
                    || matches!(next, Some('<' | '>' | ',' | ')' | ']' | ':' | '('))
                    || previous == Some(':') && next == Some(':');
                if !glue {
                    out.push(' ');
                }
            }
            _ => out.push(c),
        }
    }
    out.replace("&mut", "&mut ").replace("&mut  ", "&mut ").replace("-> ()", "")
}

/// A signature in an author's form.
fn signature(row: &Row) -> String {
    let mut args = vec!["&self".to_owned()];
    for (name, ty) in &row.args {
        let mut ty = ty.clone();
        ElideLifetimes.visit_type_mut(&mut ty);
        args.push(format!("{name}: {}", rust(&ty)));
    }
    let answer = rust(&row.answer);
    let output = if answer == "()" { String::new() } else { format!(" -> {answer}") };
    format!("async fn {}({}){output}", row.name, args.join(", "))
}

/// The reference text.
pub(crate) fn generate(root: &Path) -> Result<String> {
    let callbacks = root.join("crates/core/src/callbacks");
    let rules = rules(&workspace::read(&callbacks.join("rules.rs"))?)?;
    let mut out = String::new();
    out.push_str(
        "<!-- Generated by `cargo xtask codegen` from crates/core/src/callbacks/*.rs: do not edit. -->\n\
         # Callback signatures\n\n\
         The Rust signature of every callback, generated from the category tables. Write the\n\
         method exactly so inside a `#[module]` impl block, under the category's attribute. A\n\
         callback may also return `Result<Answer, E>` with `E: Into<mxmod::CallbackError>`: `?`\n\
         works on `MatrixError` (sent to the client where Synapse lets a module's error\n\
         through), `HostError`, `DbError` and `HttpError` (each handled by the\n\
         callback's failure policy). Every answer type is at the crate root.\n\n\
         Each section is a compiled doc test: a module implementing every callback of the\n\
         category with these signatures, each returning the answer that leaves the\n\
         decision to the other modules.\n",
    );
    for category in CATEGORIES {
        let file = format!("{category}.rs");
        let table = table(&workspace::read(&callbacks.join(&file))?, &file)?;
        let _ = write!(out, "\n## `#[{}]`\n\n{}\n\n", table.category, table.docs.join(" "));
        out.push_str(
            "| callback | answer | combination | a deny reaches the client as | server gets | on failure |\n\
             |---|---|---|---|---|---|\n",
        );
        for row in &table.rows {
            let rule_name = rust(&row.rule);
            let (base, argument) = rule_base(&rule_name);
            let rule = rules.iter().find(|r| r.name == base);
            let output = |rule: &RuleInfo| match argument {
                Some(argument) => rule.output.replace("<T>", &format!("<{argument}>")),
                None => rule.output.clone(),
            };
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {} | {} | `Result<{}, MatrixError>` | {} |",
                row.name,
                rust(&row.answer),
                rule.map_or(rule_name.clone(), |r| plain(&r.docs.join(" "))),
                deny(&row.deny),
                rule.map_or("?".to_owned(), output),
                failure(&row.on_error),
            );
        }
        let _ = write!(
            out,
            "\n```rust\nuse mxmod::{{module, {category}, Module, ModuleApi, ModuleError, {ROOT_ANSWERS}}};\n\
             use mxmod::types::*;\n\n\
             struct Example;\n\n\
             impl Module for Example {{\n    type Config = serde_json::Value;\n\n    \
             fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {{\n        \
             Ok(Example)\n    }}\n}}\n\n\
             #[module(name = \"reference_{category}\")]\nimpl Example {{\n",
        );
        for (n, row) in table.rows.iter().enumerate() {
            if n > 0 {
                out.push('\n');
            }
            for line in &row.docs {
                let _ = writeln!(out, "    /// {line}").map(|()| ());
            }
            let body = match deferring_answer(rule_base(&rust(&row.rule)).0) {
                Some("()") => "{}".to_owned(),
                Some(answer) => format!("{{\n        {answer}\n    }}"),
                None => {
                    let rule = rust(&row.rule);
                    return Err(Error::new(format!(
                        "{category}.rs: rule `{rule}` has no deferring answer in codegen.rs"
                    )));
                }
            };
            let _ = writeln!(out, "    #[{category}]\n    #[allow(unused_variables)]\n    {} {body}", signature(row));
        }
        out.push_str("}\n# fn main() {}\n```\n");
    }
    Ok(out.replace("/// \n", "///\n"))
}

/// The signatures `mxmod-common` lists for the macros (a wrong argument count quotes
/// the callback's), one row per callback in table order.
pub(crate) fn generate_signatures(root: &Path) -> Result<String> {
    let callbacks = root.join("crates/core/src/callbacks");
    let mut out = String::from(
        "//! The signature of every callback as an author writes it, quoted by the macros' messages.\n\
         //! Generated by `cargo xtask codegen` from `crates/core/src/callbacks/*.rs`: do not edit.\n\n\
         use crate::category::Signature;\n\n\
         /// Every callback's signature, category by category in table order.\n\
         #[rustfmt::skip]\n\
         pub(crate) const SIGNATURES: &[Signature] = &[\n",
    );
    for category in CATEGORIES {
        let file = format!("{category}.rs");
        let table = table(&workspace::read(&callbacks.join(&file))?, &file)?;
        for row in &table.rows {
            let _ = writeln!(
                out,
                "    Signature {{ callback: \"{}\", arguments: {}, text: \"{}\" }},",
                row.name,
                row.args.len(),
                signature(row)
            );
        }
    }
    out.push_str("];\n");
    Ok(out)
}

/// The answer under `rule` that leaves the decision to the other modules (what the
/// reference's example methods return); a rule missing here stops the generation.
fn deferring_answer(rule: &str) -> Option<&'static str> {
    Some(match rule {
        "FirstDeny" => "SpamCheck::NOT_SPAM",
        "FirstTrue" => "false",
        "FirstFalse" => "true",
        "FirstNonAllow" => "RegistrationBehaviour::Allow",
        "FirstDenyOrReplace" => "EventAllowed::Allow",
        "FirstValue" => "None",
        "All" => "()",
        "UnionByUser" => "PresenceRouting::new()",
        "UnionUsers" => "InterestedUsers::default()",
        "FirstSome" => "None",
        "Concat" => "Vec::new()",
        "MergeObjects" => "JsonObject::new()",
        _ => return None,
    })
}

/// A rule's name without its type argument, and the argument: `FirstSome<String>` is
/// (`FirstSome`, `Some("String")`).
fn rule_base(rule: &str) -> (&str, Option<&str>) {
    match rule.split_once('<') {
        Some((base, rest)) => (base, rest.strip_suffix('>')),
        None => (rule, None),
    }
}

/// Doc text for a table cell: intra-doc links become code (the reference has no imports)
/// and `|` is escaped.
fn plain(text: &str) -> String {
    text.replace("[`", "`").replace("`]", "`").replace('|', "\\|")
}

/// A `DenySpec`, in words: `403 ErrCode::FORBIDDEN "text"`, or `-` for `DenySpec::NONE`.
fn deny(expr: &syn::Expr) -> String {
    let syn::Expr::Call(call) = expr else { return "-".to_owned() };
    let args: Vec<String> = call.args.iter().map(rust).collect();
    match args.as_slice() {
        [status, errcode, text, _shape] => format!("{status} `{}` {text}", errcode.trim_start_matches("ErrCode::")),
        _ => format!("`{}`", rust(expr)),
    }
}

/// The failure policy, in words.
fn failure(on_error: &syn::Expr) -> String {
    let text = rust(on_error);
    if text == "FailurePolicy::INTERNAL" {
        "500 `UNKNOWN` \"Internal server error\"".to_owned()
    } else if text == "FailurePolicy::Ignore" {
        "ignored (fail open)".to_owned()
    } else if let syn::Expr::Struct(fields) = on_error {
        // `Propagate { status, errcode, error }`: the error the request fails with.
        let field = |name: &str| {
            fields
                .fields
                .iter()
                .find(|f| matches!(&f.member, syn::Member::Named(n) if n == name))
                .map(|f| rust(&f.expr))
        };
        match (field("status"), field("errcode"), field("error")) {
            (Some(status), Some(errcode), Some(error)) => {
                format!("{status} `{}` {error}", errcode.trim_start_matches("ErrCode::"))
            }
            _ => format!("`{text}`"),
        }
    } else {
        format!("`{text}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_is_up_to_date() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let generated = generate(&root).unwrap();
        let current = std::fs::read_to_string(root.join(OUTPUT)).unwrap_or_default();
        assert!(current == generated, "{OUTPUT} is out of date: run `cargo xtask codegen`");
        let generated = generate_signatures(&root).unwrap();
        let current = std::fs::read_to_string(root.join(SIGNATURES_OUTPUT)).unwrap_or_default();
        assert!(current == generated, "{SIGNATURES_OUTPUT} is out of date: run `cargo xtask codegen`");
    }

    #[test]
    fn signatures_read_as_an_author_writes_them() {
        let row = |tokens: proc_macro2::TokenStream| syn::parse2::<Table>(tokens).unwrap().rows.remove(0);
        let check = row(quote::quote! {
            category spam_checker, slice S, enum E, struct H;
            /// Doc.
            fn check_login_for_spam(user_id: &'a UserId, device_id: Option<&'a str>, request_info: &'a [RequestInfo], content: &'a mut JsonObject) -> SpamCheck
                where rule = FirstDeny, deny = DenySpec::NONE, on_error = FailurePolicy::INTERNAL;
        });
        assert_eq!(
            signature(&check),
            "async fn check_login_for_spam(&self, user_id: &UserId, device_id: Option<&str>, \
             request_info: &[RequestInfo], content: &mut JsonObject) -> SpamCheck"
        );
        assert_eq!(check.docs, ["Doc."]);
        assert_eq!(
            rust(&syn::parse_str::<syn::Type>("HashMap<OwnedUserId, HashSet<UserPresenceState>>").unwrap()),
            "HashMap<OwnedUserId, HashSet<UserPresenceState>>"
        );
    }
}
