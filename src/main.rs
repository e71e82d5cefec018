use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: a request allocates and frees many
/// small buffers (headers, rows, strings, the JSON body), and glibc's
/// allocator spent about a tenth of the server's CPU on them
/// (`bench/README.md`, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    favorites::cli::run()
}
