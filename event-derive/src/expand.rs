//! Code generation: quote! only, from a validated [`EventInput`].
//!
//! Generated code names everything by absolute path (`::event_core::...` or the
//! `#[event(crate = "...")]` override, `::core::...`), sits in an anonymous `const _`
//! block so it adds no names to the user's module, and never panics at run time.

use crate::parse::EventInput;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::DeriveInput;

pub fn expand(input: &EventInput<'_>) -> TokenStream {
    let krate = &input.krate;
    let ident = input.ident;
    let mut generics = input.generics.clone();
    {
        let where_clause = generics.make_where_clause();
        for param in &input.type_params {
            where_clause.predicates.push(param_bound(param, krate));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let prefix = match &input.name {
        Some(name) => quote!(#name),
        None => quote!(::core::concat!(
            ::core::module_path!(),
            "::",
            ::core::stringify!(#ident)
        )),
    };

    let version = input.version.as_ref().map(|version| {
        let version: u32 = version.base10_parse().unwrap_or_default();
        quote!(const VERSION: u32 = #version;)
    });
    let event_impl = if input.type_params.is_empty() {
        quote_spanned! {ident.span()=>
            impl #krate::Event for #ident {
                const NAME: &'static str = #prefix;
                #version
            }
        }
    } else {
        // NAME of a generic type: `<prefix><P1::NAME,P2::NAME>`, built at compile time, so
        // every instantiation has its own wire identity.
        let mut parts = vec![quote!(#prefix), quote!("<")];
        for (index, param) in input.type_params.iter().enumerate() {
            if index > 0 {
                parts.push(quote!(","));
            }
            parts.push(quote!(<#param as #krate::StableName>::STABLE_NAME));
        }
        parts.push(quote!(">"));
        quote_spanned! {ident.span()=>
            impl #impl_generics #krate::__private::GenericEventName for #ident #ty_generics #where_clause {
                const NAME_BUF: &'static #krate::__private::NameBuf =
                    &#krate::__private::NameBuf::join(&[#(#parts),*]);
            }
            impl #impl_generics #krate::Event for #ident #ty_generics #where_clause {
                const NAME: &'static str =
                    <Self as #krate::__private::GenericEventName>::NAME_BUF.as_str();
                #version
            }
        }
    };

    // An event is a valid parameter of a generic event, under its own name.
    // The same name as `Event::NAME`, spelt without the `Event` impl: a type that fails
    // to be an event (not `Serialize`) is not reported again here.
    let stable_name = if input.type_params.is_empty() {
        quote!(#prefix)
    } else {
        quote!(<Self as #krate::__private::GenericEventName>::NAME_BUF.as_str())
    };
    let stable_name_impl = quote! {
        impl #impl_generics #krate::StableName for #ident #ty_generics #where_clause {
            const STABLE_NAME: &'static str = #stable_name;
        }
    };

    let request_impl = input.response.as_ref().map(|response| {
        // The span of `type Response` is the user's `T`, so "`T` is not an event" points there.
        let response_binding = quote_spanned!(response.span()=> type Response = #response;);
        let request_generics =
            request_generics(&generics, !input.type_params.is_empty(), response, krate);
        let (_, _, request_where) = request_generics.split_for_impl();
        quote! {
            impl #impl_generics #krate::Request for #ident #ty_generics #request_where {
                #response_binding
            }
        }
    });

    // Link-time registration works per concrete type; a generic type has no single
    // instantiation to register (see `event_core::registry`).
    let registration = if input.type_params.is_empty() {
        let pinned = input.name.is_some();
        let response_name = match &input.response {
            Some(response) => {
                quote!(::core::option::Option::Some(<#response as #krate::Event>::NAME))
            }
            None => quote!(::core::option::Option::None),
        };
        // A request's schema fingerprint covers its response's (see `event_core::schema`).
        // Through the `Request` impl, not the response type itself: a response that is not
        // an event is then reported once, at the `Request` impl, not here again.
        let response_of = input.response.as_ref().map(|_| {
            quote! {
                #krate::__private::inventory::submit! {
                    #krate::__private::ResponseOf::__new(
                        ::core::any::TypeId::of::<#ident>,
                        #krate::__private::response_schema_of::<#ident>,
                    )
                }
            }
        });
        Some(quote! {
            #krate::__private::inventory::submit! {
                #krate::registry::EventInfo::__new(
                    <#ident as #krate::Event>::NAME,
                    ::core::any::type_name::<#ident>,
                    ::core::any::TypeId::of::<#ident>,
                    #response_name,
                    #krate::__private::schema_of::<#ident>,
                    #pinned,
                )
            }
            #response_of
        })
    } else {
        None
    };

    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            #event_impl
            #stable_name_impl
            #request_impl
            #registration
        };
    }
}

/// On error: the errors, plus a stub `Event` impl so that uses of the type elsewhere do
/// not add "not an event" errors to the real one. No stub where it would itself fail (a
/// union cannot be serialized; lifetime and const parameters are the error).
pub fn expand_errors(input: &DeriveInput, error: syn::Error) -> TokenStream {
    let errors = error.to_compile_error();
    let only_type_params = input
        .generics
        .params
        .iter()
        .all(|param| matches!(param, syn::GenericParam::Type(_)));
    if matches!(input.data, syn::Data::Union(_)) || !only_type_params {
        return errors;
    }
    let ident = &input.ident;
    let krate = crate_override(input).unwrap_or_else(|| syn::parse_quote!(::event_core));
    let mut generics = input.generics.clone();
    let type_params: Vec<syn::Ident> = generics
        .type_params()
        .map(|param| param.ident.clone())
        .collect();
    for param in &type_params {
        generics
            .make_where_clause()
            .predicates
            .push(param_bound(param, &krate));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    // A request stays a request: uses of it add no "not a request" errors either.
    let request_stub = stub_response(input).map(|response| {
        let response: syn::Type =
            response.unwrap_or_else(|| syn::parse_quote!(#krate::__private::UnknownResponse));
        let request_generics =
            request_generics(&generics, !type_params.is_empty(), &response, &krate);
        let (_, _, request_where) = request_generics.split_for_impl();
        quote! {
            impl #impl_generics #krate::Request for #ident #ty_generics #request_where {
                type Response = #response;
            }
        }
    });
    quote! {
        #errors
        const _: () = {
            impl #impl_generics #krate::Event for #ident #ty_generics #where_clause {
                const NAME: &'static str = "<invalid event declaration>";
            }
            impl #impl_generics #krate::StableName for #ident #ty_generics #where_clause {
                const STABLE_NAME: &'static str = "<invalid event declaration>";
            }
            #request_stub
        };
    }
}

/// The generics of a `Request` impl: a generic request's response may be built from its
/// parameters (`Echo<T>` answered by `T`), so it is a request where the response is an
/// event.
fn request_generics(
    generics: &syn::Generics,
    generic: bool,
    response: &syn::Type,
    krate: &syn::Path,
) -> syn::Generics {
    let mut generics = generics.clone();
    if generic {
        generics
            .make_where_clause()
            .predicates
            .push(syn::parse_quote!(#response: #krate::Event));
    }
    generics
}

/// What a type parameter of a generic event must be: a type with a stable name that the
/// event's own `Serialize`, `Deserialize`, `Send` and `Sync` can rely on.
fn param_bound(param: &syn::Ident, krate: &syn::Path) -> syn::WherePredicate {
    syn::parse_quote!(#param: #krate::StableName
        + #krate::__private::serde::Serialize
        + #krate::__private::serde::de::DeserializeOwned
        + ::core::marker::Send
        + ::core::marker::Sync
        + 'static)
}

/// Best effort, for the stub of a type with a `#[request(...)]` attribute: the response
/// type it names under any key (a misspelt `response`), or in quotes; `Some(None)` when it
/// names none. `None` without the attribute.
fn stub_response(input: &DeriveInput) -> Option<Option<syn::Type>> {
    let attr = input
        .attrs
        .iter()
        .find(|attr| attr.path().is_ident("request"))?;
    let mut found = None;
    let _ = attr.parse_nested_meta(|meta| {
        let value = meta.value()?;
        let ty = if value.peek(syn::LitStr) {
            let text: syn::LitStr = value.parse()?;
            text.parse::<syn::Type>().ok()
        } else {
            value.parse::<syn::Type>().ok()
        };
        if found.is_none() {
            found = ty;
        }
        Ok(())
    });
    Some(found)
}

/// Best effort: the `crate = "..."` override, when it parses, for the stub impl.
fn crate_override(input: &DeriveInput) -> Option<syn::Path> {
    let mut krate = None;
    for attr in input
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("event"))
    {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let value: syn::LitStr = meta.value()?.parse()?;
                krate = value.parse().ok();
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            }
            Ok(())
        });
    }
    krate
}
