//! Procedural macros for the kernel: `#[ktest]` registers an in-kernel test.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{parse_macro_input, parse_quote, ItemFn, Meta, ReturnType};

/// Registers a function as an in-kernel test.
///
/// The function takes no arguments and returns nothing or `ktest::Result`. It is
/// recorded in the kernel's test table (a linker-assembled slice) under its
/// module path and name, so `ktest <module>::<name>` identifies it.
///
/// `#[ktest(manual)]` registers a test that only runs when selected by its
/// exact name, for deliberately failing tests that check the harness itself.
#[proc_macro_attribute]
pub fn ktest(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut function = parse_macro_input!(item as ItemFn);
    let manual = if attr.is_empty() {
        false
    } else {
        let meta = parse_macro_input!(attr as Meta);
        match meta {
            Meta::Path(path) if path.is_ident("manual") => true,
            other => {
                return syn::Error::new_spanned(other, "expected `#[ktest]` or `#[ktest(manual)]`")
                    .to_compile_error()
                    .into();
            }
        }
    };
    if !function.sig.inputs.is_empty() {
        return syn::Error::new_spanned(&function.sig.inputs, "a ktest takes no arguments")
            .to_compile_error()
            .into();
    }
    // A test without a return type returns `ktest::Result`, so the
    // `ensure!` macros (which return early with a failure) work in it.
    if matches!(function.sig.output, ReturnType::Default) {
        function.sig.output = parse_quote!(-> crate::ktest::Result);
        let body = &function.block;
        function.block = parse_quote!({
            #body;
            #[allow(unreachable_code)]
            Ok(())
        });
    }
    let name = function.sig.ident.clone();
    let entry = format_ident!("__KTEST_{}", name.to_string().to_uppercase());
    quote! {
        #function

        // linkme places the record in a dedicated link section.
        #[doc(hidden)]
        #[allow(unsafe_code)]
        #[::linkme::distributed_slice(crate::ktest::KTESTS)]
        #[linkme(crate = ::linkme)]
        static #entry: crate::ktest::Ktest = crate::ktest::Ktest {
            module: ::core::module_path!(),
            name: ::core::stringify!(#name),
            manual: #manual,
            run: #name,
        };
    }
    .into()
}
