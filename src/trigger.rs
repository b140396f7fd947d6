//! One run, top to bottom: the sender's MD5, the config, the rule, the file, the hash, the job.
//!
//! Each step either hands the next what it needs or ends the run with a [`Failure`] whose
//! outcome decides the exit code. Nothing runs unless every check before it passed.

use std::path::PathBuf;

use crate::config::Config;
use crate::display::{escape, escape_str};
use crate::exec::{self, Finished, Job, Output};
use crate::outcome::{Failure, Outcome};
use crate::plan::{self, Facts};
use crate::report::{Process, Report};
use crate::sidecar::{self, Md5Hex};
use crate::verify::{self, FileError};

/// Where the sender's MD5 comes from.
#[derive(Debug, Clone)]
pub enum Expected {
    Given(Md5Hex),
    Sidecar(PathBuf),
}

/// Everything a run needs from the command line, free of clap types.
#[derive(Debug, Clone)]
pub struct Request {
    pub cid: String,
    pub file: PathBuf,
    pub expected: Expected,
    pub force: bool,
    pub no_wait: bool,
    pub dry_run: bool,
    pub output: Output,
}

/// Sidecars are a line or a listing; anything bigger is not a sidecar.
const SIDECAR_MAX: u64 = 1 << 20;

/// Runs `req`, loading the config with `load` once the arguments are known to be sound.
pub fn run(req: &Request, load: impl FnOnce() -> Result<Config, Failure>) -> Report {
    let filename = req.file.file_name().unwrap_or_default();
    let mut report = Report::start(&req.cid, req.file.as_os_str(), filename);
    let result = execute(req, load, &mut report);
    report.finish(result);
    report
}

fn execute(
    req: &Request,
    load: impl FnOnce() -> Result<Config, Failure>,
    report: &mut Report,
) -> Result<String, Failure> {
    let claimed = claimed_md5(&req.expected)?;
    let config = load()?;
    let name = verify::file_name(&req.file).map_err(bad_file)?;
    let (rule, captures) = crate::rules::find(&config, &req.cid, &name).ok_or_else(|| {
        let detail = format!(
            "CID {} and file name {} are not set up for processing",
            escape_str(&req.cid),
            escape(&name)
        );
        Failure::new(Outcome::NotConfigured, detail)
    })?;
    report.rule = Some(rule.name.clone());
    report.tags = rule.tags.clone();

    let mut upload = verify::open(&req.file, &rule.root, &rule.name).map_err(bad_file)?;
    report.file = upload.path.to_string_lossy().into_owned();
    report.size = Some(upload.size);
    let expected = expected_for(&claimed, &req.expected, &name)?;
    report.md5.expected = Some(expected.to_string());
    let actual = upload.md5().map_err(bad_file)?;
    report.md5.actual = Some(actual.to_string());
    if actual != expected {
        let detail = format!("MD5 {expected} does not match the file's MD5 {actual} after transfer");
        return Err(Failure::new(Outcome::Md5Mismatch, detail));
    }

    let facts = Facts {
        cid: &req.cid,
        path: &upload.path,
        md5: Some(&actual),
        size: Some(upload.size),
        run_id: report.run_id,
        captures: &captures,
        keep_unknown: false,
    };
    let job = plan::job(rule, &facts);
    report.process = Some(Process::new(&job, None));
    if req.dry_run {
        let text = format!("dry run: rule {} would run:\n{}", rule.name, plan::describe(&job));
        print_plan(&text, req.output);
        return Ok(format!("dry run: {} verified, nothing ran", escape(&name)));
    }
    // The last moment to notice a swap: between here and exec the window is a few syscalls.
    upload.ensure_unchanged().map_err(bad_file)?;
    let finished =
        exec::run(&job, req.output).map_err(|e| Failure::new(Outcome::ProcessFailed, e.to_string()))?;
    report.process = Some(Process::new(&job, Some(&finished)));
    judge(&job, &finished)
}

/// The MD5 from `--md5`, or every entry of the sidecar. A sidecar that cannot be read or
/// parsed is a usage error: the caller pointed at something that is not a sidecar.
fn claimed_md5(expected: &Expected) -> Result<Vec<sidecar::Entry>, Failure> {
    let path = match expected {
        Expected::Given(md5) => return Ok(vec![sidecar::Entry { md5: md5.clone(), name: None }]),
        Expected::Sidecar(path) => path,
    };
    let usage =
        |why: String| Failure::new(Outcome::Usage, format!("--md5-file {}: {why}", escape(path.as_os_str())));
    let bytes = read_small(path, SIDECAR_MAX).map_err(|e| usage(e.to_string()))?;
    sidecar::parse(&bytes).map_err(|e| usage(e.to_string()))
}

/// Reads a small regular file without blocking on a FIFO or reading a huge one.
fn read_small(path: &std::path::Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > max {
        return Err(std::io::Error::other(format!("too large for an MD5 sidecar ({} bytes)", meta.len())));
    }
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The claimed MD5 for this file. A sidecar naming another file is a mismatch: it was meant
/// for a different upload.
fn expected_for(
    claimed: &[sidecar::Entry],
    source: &Expected,
    name: &std::ffi::OsStr,
) -> Result<Md5Hex, Failure> {
    sidecar::select(claimed, name).map_err(|other| {
        let sidecar = match source {
            Expected::Sidecar(p) => escape(p.as_os_str()),
            Expected::Given(_) => "--md5".to_owned(),
        };
        let detail = format!("MD5 sidecar {sidecar} is for {}, not {}", escape(&other), escape(name));
        Failure::new(Outcome::Md5Mismatch, detail)
    })
}

fn judge(job: &Job, finished: &Finished) -> Result<String, Failure> {
    let program = escape(&job.program);
    if finished.timed_out {
        let detail = format!(
            "command {program} ran past its timeout of {} and was killed with its whole process group",
            humantime::format_duration(job.timeout)
        );
        return Err(Failure::new(Outcome::TimedOut, detail));
    }
    match (finished.status, finished.signal) {
        (Some(0), _) => {
            let took = humantime::format_duration(std::time::Duration::from_millis(
                finished.duration.as_millis() as u64,
            ));
            Ok(format!("command {program} succeeded in {took}"))
        }
        (Some(status), _) => Err(Failure::new(
            Outcome::ProcessFailed,
            format!("command {program} exited with status {status}"),
        )),
        (None, Some(signal)) => {
            let detail = format!("command {program} was killed by signal {signal} ({})", signal_name(signal));
            Err(Failure::new(Outcome::ProcessFailed, detail))
        }
        (None, None) => {
            Err(Failure::new(Outcome::ProcessFailed, format!("command {program} ended without a status")))
        }
    }
}

pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => "signal",
    }
}

fn bad_file(err: FileError) -> Failure {
    Failure::new(Outcome::BadFile, err.to_string())
}

fn print_plan(text: &str, output: Output) {
    use std::io::Write;
    // With --json, stdout holds only the JSON result.
    let _ = match output {
        Output::Stderr => std::io::stderr().write_all(text.as_bytes()),
        _ => std::io::stdout().write_all(text.as_bytes()),
    };
}
