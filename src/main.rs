use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(ftptrigger::run(std::env::args_os()))
}
