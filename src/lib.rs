//! ftptrigger: verify an uploaded file's MD5 and run the job configured for it.
//!
//! [`run`] is the whole program: it takes argv and returns the exit code, printing as it goes.
//! Nothing global survives a call, so tests may call it more than once.

pub mod check;
pub mod cli;
pub mod config;
pub mod display;
pub mod exec;
pub mod explain;
pub mod history;
pub mod interrupt;
pub mod journal;
pub mod lock;
pub mod man;
pub mod notify;
pub mod outbox;
pub mod outcome;
pub mod plan;
pub mod report;
pub mod rules;
pub mod sidecar;
pub mod template;
pub mod trigger;
pub mod verify;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

use cli::{Cli, Command, Global, RunArgs};
use config::{Config, ConfigError};
use outcome::{Failure, Outcome};
use trigger::{Expected, Request};

/// Runs ftptrigger with `args` (including the program name) and returns the exit code.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            // --help and --version are "errors" that succeed.
            return if err.use_stderr() { Outcome::Usage.code() } else { 0 };
        }
    };
    let global = cli.global;
    match cli.command {
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut cli::command(), "ftptrigger", &mut std::io::stdout());
            0
        }
        Some(Command::Check) => match locate(&global) {
            Ok(path) => {
                let (text, ok) = check::check(&path);
                print_out(&text);
                if ok { 0 } else { Outcome::ConfigError.code() }
            }
            Err(failure) => fail(&failure),
        },
        Some(Command::Explain { cid, file }) => match load_config(&global) {
            Ok(config) => {
                let (text, verdict) = explain::explain(&config, &cid, &file);
                print_out(&text);
                verdict.map_or_else(|f| fail(&f), |()| 0)
            }
            Err(failure) => fail(&failure),
        },
        Some(Command::History { cid, file, failed, count }) => {
            let filter = journal::Filter {
                cid,
                // A path is taken for its base name, which is what the journal keys on.
                filename: file.map(|f| {
                    let name = std::path::Path::new(&f).file_name().map_or(f.as_os_str(), |n| n);
                    std::os::unix::ffi::OsStrExt::as_bytes(name).to_vec()
                }),
                failed,
                count,
            };
            match load_config(&global).and_then(|config| history(&config, &filter)) {
                Ok(runs) if global.json => print_out(&history::json_lines(&runs)),
                Ok(runs) => print_out(&history::table(&runs, history::terminal_width())),
                Err(failure) => return fail(&failure),
            }
            0
        }
        Some(Command::Outbox { action }) => match load_config(&global) {
            Ok(config) => outbox_command(&global, &config, action.unwrap_or(cli::OutboxAction::List)),
            Err(failure) => fail(&failure),
        },
        Some(Command::NotifyTest { channel }) => match load_config(&global) {
            Ok(config) => notify_test(&config, channel.as_deref()),
            Err(failure) => fail(&failure),
        },
        Some(Command::Run(args)) => run_file(&global, args),
        None => run_file(&global, cli.run),
    }
}

fn run_file(global: &Global, args: RunArgs) -> u8 {
    let req = match request(global, args) {
        Ok(req) => req,
        Err(failure) => return fail(&failure),
    };
    // Installed before anything slow, so a TERM while hashing is recorded, not fatal.
    let interrupt = match interrupt::Interrupt::install() {
        Ok(interrupt) => interrupt,
        Err(e) => return fail(&Failure::new(Outcome::InternalError, format!("cannot catch signals: {e}"))),
    };
    let scope = config::Scope::Cid(&req.cid);
    let (report, aftermath) = trigger::run(&req, || load_config_scoped(global, scope), &interrupt);
    if global.json {
        print_out(&format!("{}\n", report.to_json()));
    } else if !report.kind.is_ok() {
        eprintln!("{}", report.message);
        if global.quiet {
            let tail = report.process.as_ref().map_or("", |p| p.output_tail.as_str());
            if !tail.is_empty() {
                eprintln!("--- output tail ---\n{}", tail.trim_end());
            }
        }
    } else if !global.quiet {
        eprintln!("ftptrigger: {}", report.message);
    }
    // The outcome is out before the channels are told, so a slow one delays only the exit.
    let notices = aftermath.map(|a| a.finish(&report)).unwrap_or_default();
    // Trouble that did not change the outcome is still worth a line, except where --quiet
    // promised silence on success.
    if !(global.quiet && report.kind.is_ok()) {
        for notice in &notices {
            eprintln!("ftptrigger: {notice}");
        }
    }
    report.kind.code()
}

/// The second stage of argument handling: clap's struct into the request the run sees.
fn request(global: &Global, args: RunArgs) -> Result<Request, Failure> {
    let missing = |what: &str| Failure::new(Outcome::Usage, format!("missing {what}"));
    let expected = match (args.md5.md5, args.md5.md5_file) {
        (Some(md5), _) => Expected::Given(md5),
        (None, Some(path)) => Expected::Sidecar(path),
        (None, None) => return Err(missing("--md5 or --md5-file")),
    };
    let output = if global.json {
        exec::Output::Stderr
    } else if global.quiet {
        exec::Output::Discard
    } else {
        exec::Output::Stdout
    };
    Ok(Request {
        cid: args.cid.ok_or_else(|| missing("CID"))?,
        file: args.file.ok_or_else(|| missing("FILE"))?,
        expected,
        force: args.force,
        no_wait: args.no_wait,
        dry_run: args.dry_run,
        output,
    })
}

/// `outbox list` prints what waits; `outbox flush` retries it. Both exit 0 only when nothing
/// is left pending.
fn outbox_command(global: &Global, config: &Config, action: cli::OutboxAction) -> u8 {
    let mut journal = match trigger::open_journal(config) {
        Ok(journal) => journal,
        Err(failure) => return fail(&failure),
    };
    if action == cli::OutboxAction::Flush {
        match notify::flush(&mut journal, config) {
            Ok(done) => {
                for failed in &done.failed {
                    eprintln!("ftptrigger: {failed}");
                }
                if done.given_up > 0 {
                    eprintln!(
                        "ftptrigger: gave up on {} deliveries older than 7 days (now dead)",
                        done.given_up
                    );
                }
                if !global.quiet && !global.json {
                    eprintln!("ftptrigger: delivered {}, still pending {}", done.delivered, done.remaining);
                }
            }
            Err(e) => return fail(&Failure::new(Outcome::InternalError, e.to_string())),
        }
    }
    match journal.undelivered(true) {
        Ok(rows) => {
            if global.json {
                print_out(&outbox::json_lines(&rows));
            } else if action == cli::OutboxAction::List || !rows.is_empty() {
                print_out(&outbox::table(&rows, history::terminal_width()));
            }
            if rows.iter().any(|r| r.state == "pending") { Outcome::InternalError.code() } else { 0 }
        }
        Err(e) => fail(&Failure::new(Outcome::InternalError, e.to_string())),
    }
}

/// Sends an `event: "test"` message through each channel (or the one named); one line each.
fn notify_test(config: &Config, only: Option<&str>) -> u8 {
    let names: Vec<&String> =
        config.channels.keys().filter(|n| only.is_none_or(|o| o == n.as_str())).collect();
    if names.is_empty() {
        let defined: Vec<&str> = config.channels.keys().map(String::as_str).collect();
        let detail = match only {
            Some(name) => format!("no channel named {name:?}; defined: {}", defined.join(", ")),
            None => "the config defines no channels".to_owned(),
        };
        return fail(&Failure::new(Outcome::Usage, detail));
    }
    let message = notify::Message::test();
    let results: Vec<(&String, Result<(), String>)> = std::thread::scope(|scope| {
        let sends: Vec<_> = names
            .iter()
            .map(|name| scope.spawn(|| (*name, notify::deliver(config, name, &message))))
            .collect();
        sends.into_iter().filter_map(|s| s.join().ok()).collect()
    });
    let mut text = String::new();
    for (name, result) in &results {
        match result {
            Ok(()) => text.push_str(&format!("{name}: OK\n")),
            Err(e) => text.push_str(&format!("{name}: FAILED: {e}\n")),
        }
    }
    print_out(&text);
    if results.iter().all(|(_, r)| r.is_ok()) { 0 } else { Outcome::InternalError.code() }
}

fn history(config: &Config, filter: &journal::Filter) -> Result<Vec<serde_json::Value>, Failure> {
    let internal = |e: journal::JournalError| Failure::new(Outcome::InternalError, e.to_string());
    let path = journal::path_for(config).map_err(internal)?;
    // Looking must not create: no journal yet means no runs yet.
    let exists = path.try_exists().map_err(|e| {
        Failure::new(Outcome::InternalError, format!("cannot open journal {}: {e}", path.display()))
    })?;
    if !exists {
        return Ok(Vec::new());
    }
    journal::Journal::open(&path).and_then(|j| j.history(filter)).map_err(internal)
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
    config::load_scoped(&path, scope).map_err(|err| {
        if let ConfigError::Invalid { problems, .. } = &err {
            for p in problems {
                eprintln!("{p}");
            }
        }
        config_failure(err)
    })
}

fn config_failure(err: ConfigError) -> Failure {
    Failure::new(Outcome::ConfigError, err.to_string())
}

/// The one place a failure that ends an invocation is printed.
fn fail(failure: &Failure) -> u8 {
    eprintln!("{failure}");
    failure.outcome.code()
}

/// Writes to stdout, treating a closed pipe (`| head`) as success.
fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
