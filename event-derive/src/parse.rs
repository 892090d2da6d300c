//! Parsing and validation: `syn::DeriveInput` into an [`EventInput`], every error kept.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, GenericParam, Generics, Ident, Lit, LitStr, Path, Type};

/// Everything the expansion needs, validated.
pub struct EventInput<'a> {
    pub ident: &'a Ident,
    pub generics: &'a Generics,
    /// The type parameters, each of which must itself be an `Event`.
    pub type_params: Vec<&'a Ident>,
    /// `#[event(name = "...")]`, if pinned.
    pub name: Option<LitStr>,
    /// `#[event(crate = "...")]`, default `::event_core`.
    pub krate: Path,
    /// `#[event(version = N)]`, if given.
    pub version: Option<syn::LitInt>,
    /// `#[request(response = T)]`, if a request.
    pub response: Option<Type>,
}

/// Collects errors so that one expansion reports all of them.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(existing) => existing.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn push_new(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }
}

impl<'a> EventInput<'a> {
    pub fn from_ast(input: &'a DeriveInput) -> Result<Self, syn::Error> {
        let mut errors = Errors::default();
        check_data(input, &mut errors);
        let type_params = check_generics(&input.generics, &mut errors);
        let mut name = None;
        let mut krate = None;
        let mut version = None;
        let mut response = None;
        let mut seen_request = None;
        for attr in &input.attrs {
            if attr.path().is_ident("event") {
                parse_event_attr(attr, &mut name, &mut krate, &mut version, &mut errors);
            } else if attr.path().is_ident("request") {
                if seen_request.is_some() {
                    errors.push(syn::Error::new_spanned(
                        &attr.meta,
                        "duplicate #[request] attribute: a request has exactly one response type",
                    ));
                    continue;
                }
                seen_request = Some(attr);
                response = parse_request_attr(attr, &mut errors);
            }
        }
        if let Some(name) = &name {
            check_name(name, &mut errors);
        }
        match errors.0 {
            Some(error) => Err(error),
            None => Ok(EventInput {
                ident: &input.ident,
                generics: &input.generics,
                type_params,
                name,
                krate: krate.unwrap_or_else(|| syn::parse_quote!(::event_core)),
                version,
                response,
            }),
        }
    }
}

fn check_data(input: &DeriveInput, errors: &mut Errors) {
    if let Data::Union(data) = &input.data {
        errors.push_new(
            data.union_token.span,
            "#[derive(Event)] does not support unions: an event must be serializable, \
             use a struct or an enum",
        );
    }
}

/// Type parameters are allowed (each must be an `Event`, and its `NAME` becomes part of
/// the generic type's `NAME`); lifetimes and const parameters are not.
fn check_generics<'a>(generics: &'a Generics, errors: &mut Errors) -> Vec<&'a Ident> {
    let mut type_params = Vec::new();
    for param in &generics.params {
        match param {
            GenericParam::Type(param) => type_params.push(&param.ident),
            GenericParam::Lifetime(param) => errors.push_new(
                param.lifetime.span(),
                "#[derive(Event)] does not support lifetime parameters: events are sent \
                 between tasks and processes, so they must own their data ('static)",
            ),
            GenericParam::Const(param) => errors.push_new(
                param.ident.span(),
                "#[derive(Event)] does not support const parameters: the event NAME could \
                 not tell instantiations apart; declare one concrete type per value",
            ),
        }
    }
    type_params
}

fn parse_event_attr(
    attr: &syn::Attribute,
    name: &mut Option<LitStr>,
    krate: &mut Option<Path>,
    version: &mut Option<syn::LitInt>,
    errors: &mut Errors,
) {
    if let syn::Meta::Path(path) = &attr.meta {
        errors.push_new(
            path.span(),
            "expected #[event(name = \"...\")] or #[event(crate = \"...\")]",
        );
        return;
    }
    let result = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("name") {
            let value: LitStr =
                parse_string_value(&meta, "name", "#[event(name = \"my.app.MyEvent\")]")?;
            if name.is_some() {
                errors.push_new(meta.path.span(), "duplicate key `name` in #[event]");
            } else {
                *name = Some(value);
            }
        } else if meta.path.is_ident("crate") {
            let value: LitStr = parse_string_value(
                &meta,
                "crate",
                "#[event(crate = \"my_reexport::event_core\")]",
            )?;
            let path = value.parse::<Path>().map_err(|_| {
                syn::Error::new(
                    value.span(),
                    "`crate` must be a path, e.g. \"::event_core\"",
                )
            })?;
            if krate.is_some() {
                errors.push_new(meta.path.span(), "duplicate key `crate` in #[event]");
            } else {
                *krate = Some(path);
            }
        } else if meta.path.is_ident("version") {
            let value = meta.value()?;
            let expected = "expected a whole number from 0 to 4294967295: `version = 2`";
            let lit: Lit = value
                .parse()
                .map_err(|error| syn::Error::new(error.span(), expected))?;
            let number = match lit {
                Lit::Int(number) if number.base10_parse::<u32>().is_ok() => number,
                other => return Err(syn::Error::new(other.span(), expected)),
            };
            if version.is_some() {
                errors.push_new(meta.path.span(), "duplicate key `version` in #[event]");
            } else {
                *version = Some(number);
            }
        } else {
            let key = path_to_string(&meta.path);
            errors.push_new(
                meta.path.span(),
                format!("unknown key `{key}` in #[event]; expected `name`, `crate` or `version`"),
            );
            skip_value(&meta)?;
        }
        Ok(())
    });
    if let Err(error) = result {
        errors.push(error);
    }
}

fn parse_request_attr(attr: &syn::Attribute, errors: &mut Errors) -> Option<Type> {
    if let syn::Meta::Path(path) = &attr.meta {
        errors.push_new(
            path.span(),
            "missing response type: write #[request(response = MyResponse)]",
        );
        return None;
    }
    let mut response: Option<Type> = None;
    let mut unknown_key = false;
    let result = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("response") {
            let value = meta.value()?;
            if value.peek(syn::LitStr) {
                let lit: LitStr = value.parse()?;
                return Err(syn::Error::new(
                    lit.span(),
                    format!(
                        "expected a type, found a string literal: write `response = {}` without quotes",
                        lit.value()
                    ),
                ));
            }
            let ty: Type = value.parse().map_err(|error| {
                syn::Error::new(error.span(), "expected a type after `response =`, e.g. `response = MyResponse`")
            })?;
            if response.is_some() {
                errors.push_new(meta.path.span(), "duplicate key `response` in #[request]");
            } else {
                response = Some(ty);
            }
        } else {
            let key = path_to_string(&meta.path);
            errors.push_new(
                meta.path.span(),
                format!("unknown key `{key}` in #[request]; expected `response`"),
            );
            unknown_key = true;
            skip_value(&meta)?;
        }
        Ok(())
    });
    match result {
        Err(error) => {
            errors.push(error);
            None
        }
        Ok(()) if response.is_none() => {
            // After an unknown key (often a misspelt `response`), "missing" is noise.
            if !unknown_key {
                errors.push(syn::Error::new_spanned(
                    &attr.meta,
                    "missing response type: write #[request(response = MyResponse)]",
                ));
            }
            None
        }
        Ok(()) => response,
    }
}

fn parse_string_value(
    meta: &syn::meta::ParseNestedMeta<'_>,
    key: &str,
    example: &str,
) -> syn::Result<LitStr> {
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(lit),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{key}` must be a string literal, e.g. {example}"),
        )),
    }
}

/// Consumes `= value` after an unknown key so that parsing can go on to the next key.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        let _: proc_macro2::TokenStream = content.parse()?;
    }
    Ok(())
}

/// A pinned name is the identity of the type on the wire: it must be non-empty, printable
/// and free of the characters the generic-name rule uses (`<`, `,`, `>`).
fn check_name(name: &LitStr, errors: &mut Errors) {
    let value = name.value();
    if value.is_empty() {
        errors.push_new(name.span(), "event name must not be empty");
    } else if value.len() > 200 {
        errors.push_new(name.span(), "event name must be at most 200 bytes long");
    } else if let Some(bad) = value
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ','))
    {
        errors.push_new(
            name.span(),
            format!(
                "event name must not contain {bad:?}: use letters, digits and separators such as `.`, `_` or `::`"
            ),
        );
    }
}

fn path_to_string(path: &Path) -> String {
    path.segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}
