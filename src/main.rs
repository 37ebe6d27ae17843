//! `gen`: a thin dispatcher; everything else is the library half (src/lib.rs).

#![forbid(unsafe_code)]

#[global_allocator]
static GLOBAL: gen_kernels::alloc::Counting = gen_kernels::alloc::Counting;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;

/// clap's own message, unless the mistake is a config key written as a flag.
fn explain_and_exit(e: clap::Error) -> ! {
    if e.kind() == ErrorKind::UnknownArgument {
        if let Some(ContextValue::String(flag)) = e.get(ContextKind::InvalidArg) {
            let args: Vec<String> = std::env::args().collect();
            if let Some(msg) = gen::flags::config_key_as_flag(&args, flag) {
                eprintln!("error: {msg}");
                std::process::exit(2);
            }
        }
    }
    e.exit()
}

fn main() {
    gen_kernels::sys::default_sigpipe();
    let cli = gen::cli::Cli::try_parse().unwrap_or_else(|e| explain_and_exit(e));
    gen_kernels::alloc::keep_freed_memory();
    gen_core::kernels::runtime::init();
    if let Err(e) = gen::commands::dispatch(cli.command) {
        if let Some(i) = e.downcast_ref::<gen::train::interrupt::Interrupted>() {
            eprintln!("{i}");
            std::process::exit(i.code);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
