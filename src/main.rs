use std::process::ExitCode;

fn main() -> ExitCode {
    favorites::cli::run()
}
