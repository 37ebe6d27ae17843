//! `gen`: a thin dispatcher; everything else is the library half (src/lib.rs).

#![forbid(unsafe_code)]

#[global_allocator]
static GLOBAL: gen_kernels::alloc::Counting = gen_kernels::alloc::Counting;

use clap::Parser;

fn main() {
    let cli = gen::cli::Cli::parse();
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
