//! ftptrigger: verify an uploaded file's MD5 and run the job configured for it.
//!
//! [`run`] is the whole program: it takes argv and returns the exit code, printing as it goes.
//! Nothing global survives a call, so tests may call it more than once.

pub mod check;
pub mod cli;
pub mod config;
pub mod content;
pub mod digest;
pub mod display;
pub mod events;
pub mod exec;
pub mod explain;
pub mod history;
pub mod interrupt;
pub mod journal;
pub mod lifecycle;
pub mod lock;
pub mod man;
pub mod md5block;
mod named;
pub mod notify;
pub mod outbox;
pub mod outcome;
pub mod output;
pub mod plan;
pub mod regular_file;
pub mod report;
pub mod retry;
pub mod rules;
pub mod scan;
pub mod serve;
pub mod sidecar;
pub mod template;
pub mod trigger;
pub mod verify;

use std::ffi::OsString;

use cli::{Cli, Command, Global, RunArgs};
use config::{Config, ConfigError};
use digest::{Algorithm, Digest};
use outcome::{Failure, Outcome};
use output::{fail, notice, print_out};
use trigger::{Expected, Request};

/// Runs ftptrigger with `args` (including the program name) and returns the exit code.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::parse(args) {
        Ok(cli) => cli,
        // --help and --version are "errors" that succeed.
        Err(err) if !err.use_stderr() => {
            let _ = err.print();
            return 0;
        }
        // A usage error starts as every other error does: ERROR[2]: what is wrong.
        Err(err) => {
            let text = err.render().to_string();
            eprint!("ERROR[{}]: {}", Outcome::Usage.code(), text.strip_prefix("error: ").unwrap_or(&text));
            return Outcome::Usage.code();
        }
    };
    init_logging(cli.global.verbose);
    output::take_write_error();
    let code = dispatch(cli);
    // What the invocation was asked to print was lost (a full disk): that is no success.
    if output::take_write_error() && code == 0 { Outcome::InternalError.code() } else { code }
}

/// Runs the subcommand (or the run) `cli` asks for.
fn dispatch(cli: Cli) -> u8 {
    let global = cli.global;
    match cli.command {
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut cli::command(), "ftptrigger", &mut std::io::stdout());
            0
        }
        Some(Command::Check) => match locate(&global) {
            Ok(path) => {
                let format = match (global.json, global.quiet) {
                    (true, _) => check::Format::Json,
                    (false, true) => check::Format::Quiet,
                    (false, false) => check::Format::Text,
                };
                let (text, ok) = check::check(&path, format);
                print_out(&text);
                if ok { 0 } else { Outcome::ConfigError.code() }
            }
            Err(failure) => fail(&failure),
        },
        Some(Command::Explain { cid, file }) => match load_config(&global) {
            Ok(config) => {
                // The explanation says how a run would end; its exit code says so too, without
                // the run's ERROR line (which would point back at explain).
                let (found, verdict) = explain::explain(&config, &cid, &file);
                if global.json {
                    print_out(&format!("{}\n", serde_json::to_string(&found).unwrap_or_default()));
                } else {
                    print_out(&found.to_text());
                }
                verdict.map_or_else(|f| f.outcome.code(), |()| 0)
            }
            Err(failure) => fail(&failure),
        },
        Some(Command::History { cid, file, failed, count }) => {
            let filter = journal::Filter {
                id: None,
                cid,
                // A path is taken for its base name, which is what the journal keys on.
                filename: file.map(|f| {
                    let name = std::path::Path::new(&f).file_name().map_or(f.as_os_str(), |n| n);
                    std::os::unix::ffi::OsStrExt::as_bytes(name).to_vec()
                }),
                failed,
                count,
            };
            let style = history::Style { json: global.json, quiet: global.quiet };
            load_for_reading(&global)
                .and_then(|config| history::command(&config, &filter, style))
                .unwrap_or_else(|f| fail(&f))
        }
        Some(Command::Outbox { action }) => {
            let action = action.unwrap_or(cli::OutboxAction::List);
            let flush = action == cli::OutboxAction::Flush;
            let verbosity = outbox::Verbosity { quiet: global.quiet, json: global.json };
            // A flush sends, and tells the rules' channels of runs found interrupted; a list
            // only reads.
            let config = if flush { load_config(&global) } else { load_for_reading(&global) };
            config.and_then(|config| outbox::command(&config, flush, verbosity)).unwrap_or_else(|f| fail(&f))
        }
        Some(Command::Scan { cid, jobs, settle, dry_run }) => {
            let options = scan::Options {
                cid,
                jobs: usize::from(jobs),
                settle,
                dry_run,
                json: global.json,
                quiet: global.quiet,
            };
            scan_files(&global, &options)
        }
        Some(Command::NotifyTest { channel }) => load_config(&global)
            .and_then(|config| notify::test_command(&config, channel.as_deref(), global.json))
            .unwrap_or_else(|f| fail(&f)),
        Some(Command::Serve { listen }) => load_config(&global)
            .and_then(|config| serve::command(config, listen))
            .unwrap_or_else(|f| fail(&f)),
        Some(Command::Run(args)) => run_file(&global, args),
        None => run_file(&global, cli.run),
    }
}

fn run_file(global: &Global, args: RunArgs) -> u8 {
    let named = (args.cid.clone().unwrap_or_default(), args.file.clone().unwrap_or_default());
    let req = match request(global, args) {
        Ok(req) => req,
        // With --json, stdout carries a result object whatever happens.
        Err(failure) if global.json => {
            let (cid, file) = named;
            let mut report =
                report::Report::start(&cid, file.as_os_str(), file.file_name().unwrap_or_default());
            let code = failure.outcome.code();
            report.finish(Err(failure));
            print_out(&format!("{}\n", report.to_json()));
            return code;
        }
        Err(failure) => return fail(&failure),
    };
    // Installed before anything slow, so a TERM while hashing is recorded, not fatal.
    let interrupt = match interrupt::Interrupt::install() {
        Ok(interrupt) => interrupt,
        Err(e) => return fail(&Failure::new(Outcome::InternalError, format!("cannot catch signals: {e}"))),
    };
    let scope = config::Scope::Cid(&req.cid);
    let load = || load_config_scoped(global, scope).map(std::sync::Arc::new);
    let (report, aftermath) = trigger::run(&req, load, &interrupt);
    if global.json {
        print_out(&format!("{}\n", report.to_json()));
    } else if !report.outcome.is_ok() {
        eprintln!("{}", report.message);
        if global.quiet {
            let tail = report.process.as_ref().map_or("", |p| p.output_tail.as_str());
            if !tail.is_empty() {
                eprintln!("--- output tail ---\n{}", tail.trim_end());
            }
        }
    } else if !global.quiet {
        notice(&report.message);
    }
    // The outcome is out before the channels are told, so a slow one delays only the exit.
    let notices = aftermath.map(|a| a.finish(&report)).unwrap_or_default();
    // Trouble that did not change the outcome is still worth a line, except where --quiet
    // promised silence on success.
    if !(global.quiet && report.outcome.is_ok()) {
        for line in &notices {
            notice(line);
        }
    }
    report.outcome.code()
}

/// `scan`: one config and one signal handler for every file it processes.
fn scan_files(global: &Global, options: &scan::Options) -> u8 {
    let interrupt = match interrupt::Interrupt::install() {
        Ok(interrupt) => interrupt,
        Err(e) => return fail(&Failure::new(Outcome::InternalError, format!("cannot catch signals: {e}"))),
    };
    let scope = options.cid.as_deref().map_or(config::Scope::All, config::Scope::Cid);
    load_config_scoped(global, scope)
        .and_then(|config| scan::command(std::sync::Arc::new(config), options, &interrupt))
        .unwrap_or_else(|f| fail(&f))
}

/// The second stage of argument handling: clap's struct into the request the run sees.
fn request(global: &Global, args: RunArgs) -> Result<Request, Failure> {
    let missing = |what: &str| Failure::new(Outcome::Usage, format!("missing {what}"));
    let given = |algorithm: Algorithm, hex: &str| {
        Digest::parse(algorithm, hex).map(Expected::Given).map_err(|why| {
            // A digest of the other algorithm's length is a likely slip: say which flag takes it.
            let hint = Algorithm::ALL
                .into_iter()
                .find(|&other| other != algorithm && Digest::parse(other, hex).is_ok())
                .map_or(String::new(), |other| {
                    format!(" ({} has {}; use {})", other.a(), other.hex_len(), digest_flag(other))
                });
            Failure::new(Outcome::Usage, format!("{}: {why}{hint}", digest_flag(algorithm)))
        })
    };
    let source = args.digest;
    let expected = match (source.md5, source.md5_file, source.sha256, source.sha256_file) {
        (Some(hex), ..) => given(Algorithm::Md5, &hex)?,
        (_, Some(path), ..) => Expected::Sidecar(path, Algorithm::Md5),
        (.., Some(hex), _) => given(Algorithm::Sha256, &hex)?,
        (.., Some(path)) => Expected::Sidecar(path, Algorithm::Sha256),
        (None, None, None, None) => return Err(missing("--md5, --md5-file, --sha256 or --sha256-file")),
    };
    let output = if global.json {
        exec::Output::Stderr
    } else if global.quiet {
        exec::Output::Discard
    } else {
        exec::Output::Stdout
    };
    let progress = !global.quiet && !global.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    Ok(Request {
        progress,
        queued: None,
        lock: None,
        cid: args.cid.ok_or_else(|| missing("CID"))?,
        file: args.file.ok_or_else(|| missing("FILE"))?,
        expected,
        force: args.force,
        no_wait: args.no_wait,
        dry_run: args.dry_run,
        output,
    })
}

/// The flag that gives a digest of `algorithm`.
fn digest_flag(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Md5 => "--md5",
        Algorithm::Sha256 => "--sha256",
    }
}

/// `-v` says what happens, `-vv` how; without either, only results and errors are printed.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Info,
        _ => log::LevelFilter::Debug,
    };
    // A second run() in one process (tests) keeps the first logger; that is fine.
    // Only our own records: libraries' debug output is not the operator's concern.
    let _ = env_logger::Builder::new()
        .filter_level(log::LevelFilter::Off)
        .filter_module("ftptrigger", level)
        .format(|buf, record| {
            use std::io::Write as _;
            writeln!(buf, "ftptrigger: {}: {}", record.level().as_str().to_lowercase(), record.args())
        })
        .try_init();
}

fn locate(global: &Global) -> Result<std::path::PathBuf, Failure> {
    config::locate(global.config.as_deref(), std::env::var_os("FTPTRIGGER_CONFIG")).map_err(config_failure)
}

/// Loads the config; every problem it has is printed, one per line, before the failure.
fn load_config(global: &Global) -> Result<Config, Failure> {
    load_config_scoped(global, config::Scope::All)
}

fn load_config_scoped(global: &Global, scope: config::Scope<'_>) -> Result<Config, Failure> {
    let path = locate(global)?;
    config::load_scoped(&path, scope).map_err(refused)
}

/// The failure for a config that cannot be used, after printing every problem it has, one per
/// line.
fn refused(err: ConfigError) -> Failure {
    if let ConfigError::Invalid { problems, .. } = &err {
        for p in problems {
            eprintln!("{p}");
        }
    }
    config_failure(err)
}

/// Loads the config for a command that only reads the journal (`history`, `outbox list`).
/// Those need nothing but `[journal]`, and an operator finding out why runs fail needs them
/// most when the config has errors: then that section alone is read, and a line says the rest
/// is broken. The whole config's problems are printed only when even that section fails.
fn load_for_reading(global: &Global) -> Result<Config, Failure> {
    let path = locate(global)?;
    let err = match config::load(&path) {
        Ok(config) => return Ok(config),
        Err(err) => err,
    };
    let section = match &err {
        ConfigError::Invalid { .. } => journal::section_of(&path),
        _ => None,
    };
    match section {
        Some(Ok(config)) => {
            if !global.quiet {
                let broken = config_failure(err).detail;
                notice(&format!(
                    "{broken}: `ftptrigger check` lists them; reading the journal it names all the same"
                ));
            }
            Ok(config)
        }
        Some(Err(failure)) => Err(failure),
        None => Err(refused(err)),
    }
}

/// A config that cannot be used ends the invocation with exit 10. An invalid one is counted
/// by its errors: its warnings are printed with them, but do not stop anything.
fn config_failure(err: ConfigError) -> Failure {
    let detail = match &err {
        ConfigError::Invalid { path, problems } => {
            let errors = problems.iter().filter(|p| p.severity == config::Severity::Error).count();
            let plural = if errors == 1 { "" } else { "s" };
            format!("config {} is invalid ({errors} error{plural})", path.display())
        }
        _ => err.to_string(),
    };
    Failure::new(Outcome::ConfigError, detail)
}
