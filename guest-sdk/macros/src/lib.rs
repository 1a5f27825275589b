//! Procedural macros of the wflow Rust guest SDK.
//!
//! Use them through `wflow_guest` (`wflow_guest::prelude::*`), not directly:
//! - `#[event]` turns a struct into a workflow event type;
//! - `#[derive(Events)]` turns an enum of event types into "one of these";
//! - `#[step]` turns a function into a workflow step.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{
    Data, DeriveInput, Expr, Fields, FnArg, ItemFn, ItemStruct, LitStr, Meta, ReturnType, Token,
    Type, parse_macro_input,
};

/// Turns a struct with named fields into an event type.
///
/// Adds the serde and JSON Schema derives and implements `wflow_guest::Event`
/// (and the traits that let a step accept or return the type). Options:
/// `#[event(start)]`, `#[event(stop)]`, `#[event(input_required)]`,
/// `#[event(human_response)]` declare a custom start, stop, input-request or
/// human-response event; `#[event(name = "Other")]` changes the type's name
/// (the struct's name by default).
#[proc_macro_attribute]
pub fn event(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as ItemStruct);
    match expand_event(args.into(), item) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

fn expand_event(args: TokenStream2, item: ItemStruct) -> syn::Result<TokenStream2> {
    let mut kind = quote!(Plain);
    let mut name = LitStr::new(&item.ident.to_string(), item.ident.span());
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    for meta in metas {
        match &meta {
            Meta::Path(path) if path.is_ident("start") => kind = quote!(Start),
            Meta::Path(path) if path.is_ident("stop") => kind = quote!(Stop),
            Meta::Path(path) if path.is_ident("input_required") => kind = quote!(InputRequired),
            Meta::Path(path) if path.is_ident("human_response") => kind = quote!(HumanResponse),
            Meta::NameValue(nv) if nv.path.is_ident("name") => match &nv.value {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(lit),
                    ..
                }) => name = lit.clone(),
                other => return Err(syn::Error::new_spanned(other, "expected a string literal")),
            },
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "unknown event option: expected start, stop, input_required, human_response or name = \"...\"",
                ));
            }
        }
    }
    if !matches!(item.fields, Fields::Named(_)) {
        return Err(syn::Error::new_spanned(
            &item.ident,
            "an event must be a struct with named fields (write `struct Tick {}` for an empty one)",
        ));
    }
    let ident = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let with_derives = with_data_derives(&item);
    Ok(quote! {
        #with_derives

        impl #impl_generics ::wflow_guest::Event for #ident #ty_generics #where_clause {
            const NAME: &'static str = #name;
            const KIND: ::wflow_guest::EventKind = ::wflow_guest::EventKind::#kind;
        }

        ::wflow_guest::__impl_event_io!(#ident);
    })
}

/// Turns a struct into a workflow's typed state: adds the serde and JSON
/// Schema derives. Pair it with `#[derive(Default)]` (the defaults `clear`
/// resets to) and declare it with `export_steps!(state = MyState; ...)`.
#[proc_macro_attribute]
pub fn state(args: TokenStream, item: TokenStream) -> TokenStream {
    if !args.is_empty() {
        return syn::Error::new(Span::call_site(), "#[state] takes no options")
            .to_compile_error()
            .into();
    }
    let item = parse_macro_input!(item as ItemStruct);
    with_data_derives(&item).into()
}

/// `item` with the serde and schemars derives, pointed at the SDK's
/// re-exports so guest crates need neither dependency.
fn with_data_derives(item: &ItemStruct) -> TokenStream2 {
    quote! {
        #[derive(
            ::wflow_guest::__private::serde::Serialize,
            ::wflow_guest::__private::serde::Deserialize,
            ::wflow_guest::__private::schemars::JsonSchema
        )]
        #[serde(crate = "::wflow_guest::__private::serde")]
        #[schemars(crate = "::wflow_guest::__private::schemars")]
        #item
    }
}

/// Implements the step input and output traits for an enum whose variants
/// each hold one event type: a step accepting the enum accepts every type,
/// a step returning it emits any of them.
///
/// ```ignore
/// #[derive(Events)]
/// enum Next { Again(Guess), Done(StopEvent) }
/// ```
#[proc_macro_derive(Events)]
pub fn derive_events(item: TokenStream) -> TokenStream {
    let input = parse_macro_input!(item as DeriveInput);
    match expand_events(input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

fn expand_events(input: DeriveInput) -> syn::Result<TokenStream2> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Events)] needs an enum whose variants each hold one event",
        ));
    };
    let mut variants = Vec::new();
    let mut types = Vec::new();
    for variant in &data.variants {
        match &variant.fields {
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                variants.push(variant.ident.clone());
                types.push(fields.unnamed[0].ty.clone());
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    variant,
                    "each variant must hold exactly one event, as in `Done(StopEvent)`",
                ));
            }
        }
    }
    let ident = &input.ident;
    Ok(quote! {
        impl ::wflow_guest::StepInput for #ident {
            fn accepts(out: &mut ::std::vec::Vec<&'static str>) {
                #( out.push(<#types as ::wflow_guest::Event>::NAME); )*
            }
            fn register(registry: &mut ::wflow_guest::EventRegistry) {
                #( registry.add::<#types>(); )*
            }
            fn from_raw(ev: ::wflow_guest::AnyEvent) -> ::std::result::Result<Self, ::wflow_guest::StepError> {
                #(
                    if ev.name() == <#types as ::wflow_guest::Event>::NAME {
                        return ev.parse::<#types>().map(#ident::#variants);
                    }
                )*
                ::std::result::Result::Err(::wflow_guest::StepError::invalid_event(
                    ::std::format!("unexpected event type {}", ev.name()),
                ))
            }
        }

        impl ::wflow_guest::StepOutput for #ident {
            fn emits(out: &mut ::std::vec::Vec<&'static str>) {
                #( out.push(<#types as ::wflow_guest::Event>::NAME); )*
            }
            fn register(registry: &mut ::wflow_guest::EventRegistry) {
                #( registry.add::<#types>(); )*
            }
            fn into_events(self, out: &mut ::std::vec::Vec<::wflow_guest::AnyEvent>) -> ::std::result::Result<(), ::wflow_guest::StepError> {
                match self {
                    #( #ident::#variants(ev) => out.push(::wflow_guest::AnyEvent::from_event(&ev)?), )*
                }
                ::std::result::Result::Ok(())
            }
        }

        impl ::wflow_guest::ToAnyEvent for #ident {
            fn to_any_event(&self) -> ::std::result::Result<::wflow_guest::AnyEvent, ::wflow_guest::StepError> {
                match self {
                    #( #ident::#variants(ev) => ::wflow_guest::AnyEvent::from_event(ev), )*
                }
            }
        }
    })
}

/// Turns a function into a workflow step.
///
/// The accepted event types come from the event parameter's type, the
/// emitted ones from the return type, as the seed's `@step` reads them from
/// annotations. The function takes the event, optionally preceded by
/// `ctx: &Context`. Options: `num_workers = 2` (4 by default), `timeout_ms =
/// 5000`, `retry = RetryPolicy::constant(3, 100)` (any expression; none by
/// default; the defaults are the SDKs' shared ones, `wit/sdk-defaults.json`),
/// `emits = [WorkItem, Progress]` (types sent with `ctx.send_event`),
/// `waits = [Approval]` (types awaited with `ctx.wait_for_event`, so the
/// host knows their schema), and
/// `name = "other"` (the function's name by default).
#[proc_macro_attribute]
pub fn step(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as ItemFn);
    match expand_step(args.into(), item) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

struct StepOptions {
    name: Option<LitStr>,
    num_workers: Option<Expr>,
    timeout_ms: Option<Expr>,
    retry: Option<Expr>,
    emits: Vec<Type>,
    waits: Vec<Type>,
}

fn parse_step_options(args: TokenStream2) -> syn::Result<StepOptions> {
    let mut options = StepOptions {
        name: None,
        num_workers: None,
        timeout_ms: None,
        retry: None,
        emits: Vec::new(),
        waits: Vec::new(),
    };
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    for meta in metas {
        let Meta::NameValue(nv) = &meta else {
            return Err(syn::Error::new_spanned(meta, "expected `option = value`"));
        };
        let key = nv
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        match key.as_str() {
            "name" => match &nv.value {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(lit),
                    ..
                }) => options.name = Some(lit.clone()),
                other => return Err(syn::Error::new_spanned(other, "expected a string literal")),
            },
            "num_workers" => options.num_workers = Some(nv.value.clone()),
            "timeout_ms" => options.timeout_ms = Some(nv.value.clone()),
            "retry" => options.retry = Some(nv.value.clone()),
            "emits" => options.emits = parse_type_list(&nv.value)?,
            "waits" => options.waits = parse_type_list(&nv.value)?,
            _ => {
                return Err(syn::Error::new_spanned(
                    &nv.path,
                    "unknown step option: expected name, num_workers, timeout_ms, retry, emits or waits",
                ));
            }
        }
    }
    Ok(options)
}

fn parse_type_list(value: &Expr) -> syn::Result<Vec<Type>> {
    match value {
        Expr::Array(array) => array
            .elems
            .iter()
            .map(|elem| syn::parse2(quote!(#elem)))
            .collect(),
        other => Err(syn::Error::new_spanned(
            other,
            "expected a list of event types, as in `emits = [WorkItem]`",
        )),
    }
}

fn expand_step(args: TokenStream2, item: ItemFn) -> syn::Result<TokenStream2> {
    let options = parse_step_options(args)?;
    let fn_ident = &item.sig.ident;
    let vis = &item.vis;
    if item.sig.asyncness.is_some() {
        return Err(syn::Error::new_spanned(
            item.sig.asyncness,
            "steps are plain functions: the host runs them concurrently, and context calls block",
        ));
    }
    let params: Vec<&FnArg> = item.sig.inputs.iter().collect();
    let event_type = |arg: &FnArg| -> syn::Result<Type> {
        match arg {
            FnArg::Typed(pat) => Ok((*pat.ty).clone()),
            FnArg::Receiver(r) => Err(syn::Error::new_spanned(r, "a step cannot take self")),
        }
    };
    let (takes_ctx, input_ty) = match params.as_slice() {
        [ev] => (false, event_type(ev)?),
        [_ctx, ev] => (true, event_type(ev)?),
        _ => {
            return Err(syn::Error::new_spanned(
                &item.sig,
                "a step takes its event, optionally preceded by `ctx: &Context`",
            ));
        }
    };
    let output_ty: Type = match &item.sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let name = options
        .name
        .unwrap_or_else(|| LitStr::new(&fn_ident.to_string(), fn_ident.span()));
    // Options left out keep the defaults `StepSpec::new` fills in.
    let num_workers = options
        .num_workers
        .map(|expr| quote!(spec.num_workers = #expr;));
    let timeout_ms = options
        .timeout_ms
        .map(|expr| quote!(spec.timeout_ms = ::std::option::Option::Some(#expr);));
    let retry = options
        .retry
        .map(|expr| quote!(spec.retry = ::std::option::Option::Some(#expr);));
    let extra_emits = &options.emits;
    let waited = &options.waits;
    let call = if takes_ctx {
        quote!(#fn_ident(ctx, input))
    } else {
        quote!({
            let _ = ctx;
            #fn_ident(input)
        })
    };
    let marker = format_ident!("{}", fn_ident, span = Span::call_site());
    Ok(quote! {
        #item

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #marker {}

        impl ::wflow_guest::Step for #marker {
            const NAME: &'static str = #name;

            fn spec() -> ::wflow_guest::StepSpec {
                let mut accepts = ::std::vec::Vec::new();
                <#input_ty as ::wflow_guest::StepInput>::accepts(&mut accepts);
                let mut emits = ::std::vec::Vec::new();
                <#output_ty as ::wflow_guest::StepOutput>::emits(&mut emits);
                #( emits.push(<#extra_emits as ::wflow_guest::Event>::NAME); )*
                #[allow(unused_mut)]
                let mut spec = ::wflow_guest::StepSpec::new(#name, accepts, emits);
                #num_workers
                #timeout_ms
                #retry
                spec
            }

            fn register(registry: &mut ::wflow_guest::EventRegistry) {
                <#input_ty as ::wflow_guest::StepInput>::register(registry);
                <#output_ty as ::wflow_guest::StepOutput>::register(registry);
                #( registry.add::<#extra_emits>(); )*
                #( registry.add::<#waited>(); )*
            }

            fn call(
                ctx: &::wflow_guest::Context,
                ev: ::wflow_guest::AnyEvent,
            ) -> ::std::result::Result<::std::vec::Vec<::wflow_guest::AnyEvent>, ::wflow_guest::StepError> {
                let input = <#input_ty as ::wflow_guest::StepInput>::from_raw(ev)?;
                let output: #output_ty = #call;
                let mut out = ::std::vec::Vec::new();
                <#output_ty as ::wflow_guest::StepOutput>::into_events(output, &mut out)?;
                ::std::result::Result::Ok(out)
            }
        }
    })
}
