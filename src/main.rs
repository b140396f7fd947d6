use std::process::ExitCode;

fn main() -> ExitCode {
    // First, while this is the only thread: nothing ftptrigger was handed reaches a job.
    ftptrigger::exec::close_inherited_on_exec();
    ExitCode::from(ftptrigger::run(std::env::args_os()))
}
