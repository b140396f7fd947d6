//! The command line, defined once: clap parses it, and the man page and shell completions are
//! generated from the same definition.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Verify an uploaded file's MD5 (or SHA-256) and run the job configured for its customer.
///
/// Called once per file by an FTP server's post-upload hook, a cron job or an operator:
/// `ftptrigger <CID> <FILE> --md5 <HEX>` checks that the CID and file name are set up for
/// processing, that the file arrived intact, and runs the configured command.
#[derive(Debug, Parser)]
#[command(
    name = "ftptrigger",
    version,
    about = "Verify an uploaded file's MD5 (or SHA-256) and run the job configured for its customer",
    after_help = crate::outcome::exit_codes_help(),
    subcommand_negates_reqs = true,
    override_usage = "ftptrigger [OPTIONS] <CID> <FILE> (--md5 <HEX> | --md5-file <PATH>)\n       \
                      ftptrigger [OPTIONS] <CID> <FILE> (--sha256 <HEX> | --sha256-file <PATH>)\n       \
                      ftptrigger [OPTIONS] <COMMAND>",
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(flatten)]
    pub run: RunArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options accepted before or after any subcommand.
#[derive(Debug, Args, Clone, Default)]
pub struct Global {
    /// Config file [default: $FTPTRIGGER_CONFIG (absolute), else /etc/ftptrigger/ftpscanner.cfg;
    /// never the working directory]
    #[arg(short, long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Print nothing on success; on failure, the error (and for a run, the command's output tail)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Say more about what happens (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print JSON on stdout: a run's result object (the command's output then goes to stderr),
    /// check's report; history and outbox as one JSON object per line
    #[arg(long, global = true)]
    pub json: bool,
}

/// What a run needs: which customer, which file, and the digest the sender claims.
#[derive(Debug, Args, Clone)]
#[group(id = "run_args")]
pub struct RunArgs {
    /// The customer id the file belongs to
    #[arg(required = true)]
    pub cid: Option<String>,

    /// The uploaded file
    #[arg(required = true)]
    pub file: Option<PathBuf>,

    #[command(flatten)]
    pub digest: DigestSource,

    /// Run even if this CID, file name and MD5 already succeeded before
    #[arg(long)]
    pub force: bool,

    /// Exit 16 at once instead of waiting when another run holds this file's lock
    #[arg(long)]
    pub no_wait: bool,

    /// Do every check, print the exact command, environment and workdir; run nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// The sender's digest: exactly one of these.
#[derive(Debug, Args, Clone)]
#[group(required = true, multiple = false)]
pub struct DigestSource {
    /// The MD5 the sender gave: 32 hex digits, any case
    // Checked by the run, not by clap, so that a bad one still gets a JSON result with --json.
    #[arg(long, value_name = "HEX")]
    pub md5: Option<String>,

    /// Read the MD5 from a sidecar: any listing `md5sum -c` reads (GNU, `--tag`, OpenSSL,
    /// `md5 -r`), or bare hex; at most 1 MiB. A bad sidecar is exit 13
    #[arg(long, value_name = "PATH")]
    pub md5_file: Option<PathBuf>,

    /// The SHA-256 the sender gave: 64 hex digits, any case. The MD5 is still computed (for
    /// duplicates, the journal and {md5})
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,

    /// Read the SHA-256 from a sidecar: any listing `sha256sum -c` reads (GNU, `--tag`,
    /// OpenSSL), or bare hex; at most 1 MiB. A bad sidecar is exit 13
    #[arg(long, value_name = "PATH")]
    pub sha256_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify and process a file (the explicit form, for a CID named like a subcommand)
    Run(RunArgs),
    /// Validate the config: every problem as PATH:LINE:COL: field: message
    Check,
    /// Show which rule matches CID and FILE, and the exact command that would run; no side effects
    Explain {
        /// The customer id
        cid: String,
        /// The file, as it would be passed to a run
        file: PathBuf,
    },
    /// Show the journal's runs, newest first
    History {
        /// Only runs of this CID
        #[arg(long, value_name = "CID")]
        cid: Option<String>,
        /// Only runs of this file name (the base name, exactly)
        #[arg(long, value_name = "NAME")]
        file: Option<std::ffi::OsString>,
        /// Only runs that did not succeed (outcomes other than success and duplicate_skipped)
        #[arg(long)]
        failed: bool,
        /// How many runs to show
        #[arg(long, short = 'n', value_name = "N", default_value_t = 20)]
        count: usize,
    },
    /// Process every settled file with an MD5 sidecar in the rules' roots (for cron)
    ///
    /// Each file that matches a rule of its root's CID is processed exactly as
    /// `ftptrigger CID FILE --md5-file SIDECAR` would process it (`--sha256-file` for a rule
    /// whose `sidecar` ends in `.sha256`), once it and its sidecar have not changed for
    /// `settle`. Files without a sidecar wait; those already processed, or being processed, are
    /// skipped.
    Scan {
        /// Only the rules of this CID
        #[arg(long, value_name = "CID")]
        cid: Option<String>,
        /// Process up to N files at once
        #[arg(long, short = 'j', value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        jobs: u16,
        /// Leave alone files (or sidecars) changed within DUR, for every rule [default: each rule's settle, 30s]
        #[arg(long, value_name = "DUR", value_parser = parse_duration)]
        settle: Option<std::time::Duration>,
        /// List what would be processed and why the rest waits; run nothing, write nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Notifications not yet delivered: list them, or flush (retry) them now
    Outbox {
        #[command(subcommand)]
        action: Option<OutboxAction>,
    },
    /// Send a test message through every channel, or the one named; exit 4 when any failed
    NotifyTest {
        /// Only this channel
        channel: Option<String>,
    },
    /// Serve HTTP: runs on request (sync or async), the journal's runs, health and metrics
    ///
    /// Reads `[serve]` from the config. SIGHUP, or a change of the config file, reloads it (a
    /// config with errors is refused and the old one kept); SIGTERM or SIGINT stops accepting,
    /// lets running jobs end for up to `shutdown_grace`, and exits 0. Queued runs survive a
    /// restart.
    Serve {
        /// Listen here instead of `[serve] listen` (e.g. 127.0.0.1:8750; port 0 picks a free one)
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Print shell completions
    Completions {
        /// The shell to generate completions for
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand, Clone, Copy, PartialEq, Eq)]
pub enum OutboxAction {
    /// Show pending deliveries (and those given up as dead): channel, event, CID, file,
    /// attempts, last error, age
    List,
    /// Retry pending deliveries now, oldest first; exit 0 when each one tried went through,
    /// 4 (delivery_failed) when any failed again
    Flush,
}

/// A humane duration: `0s`, `90s`, `10m`, `1h30m`.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e}; write e.g. 0s, 90s, 10m, 1h30m"))
}

/// The clap command, for parsing, the man page and completions. `--quiet` and `--json` are
/// global, so that they may come before or after the subcommand; their help is then said for
/// each subcommand in its own terms, not as a list of what they do everywhere.
pub fn command() -> clap::Command {
    let cmd = <Cli as clap::CommandFactory>::command();
    GLOBAL_HELP.iter().fold(cmd, |cmd, &(path, quiet, json)| {
        // A subcommand's own `quiet` and `json` (same ids) stop clap from copying the global
        // ones into it, and their values still reach the global ones.
        let reword = |sub: clap::Command| {
            sub.arg(
                clap::Arg::new("quiet")
                    .short('q')
                    .long("quiet")
                    .action(clap::ArgAction::SetTrue)
                    .conflicts_with("verbose")
                    .help(quiet),
            )
            .arg(clap::Arg::new("json").long("json").action(clap::ArgAction::SetTrue).help(json))
        };
        match path {
            [] => cmd.mut_arg("quiet", |a| a.help(quiet)).mut_arg("json", |a| a.help(json)),
            [name] => cmd.mut_subcommand(name, reword),
            [name, action] => cmd.mut_subcommand(name, |sub| sub.mut_subcommand(action, reword)),
            _ => unreachable!("two levels of subcommands at most"),
        }
    })
}

/// What `--quiet` and `--json` do, by subcommand (the path of names; none: the run itself).
const GLOBAL_HELP: &[(&[&str], &str, &str)] = &[
    (
        &[],
        "Print nothing on success; on failure, the error and the command's output tail",
        "Print the run's result object as JSON on stdout (the command's output then goes to stderr)",
    ),
    (
        &["run"],
        "Print nothing on success; on failure, the error and the command's output tail",
        "Print the run's result object as JSON on stdout (the command's output then goes to stderr)",
    ),
    (
        &["check"],
        "Print nothing when the config is valid (problems still print)",
        "Print the report as one JSON object",
    ),
    (&["explain"], "Has no effect here", "Print the explanation as one JSON object"),
    (&["history"], "Do not name the journal read on stderr", "Print one JSON object per run (JSON lines)"),
    (&["scan"], "Print only failures", "Print one JSON object per file (JSON lines)"),
    (&["outbox"], "Print nothing", "Print one JSON object per pending or dead delivery (JSON lines)"),
    (&["outbox", "list"], "Print nothing", "Print one JSON object per pending or dead delivery (JSON lines)"),
    (
        &["outbox", "flush"],
        "Print only failures (on stderr)",
        "Print what is still pending afterwards, one JSON object per delivery (JSON lines)",
    ),
    (
        &["notify-test"],
        "Has no effect here",
        "Print one JSON object per channel: channel, ok, error (JSON lines)",
    ),
    (
        &["serve"],
        "Has no effect here (the service logs a line per request and per run)",
        "Has no effect here",
    ),
    (&["completions"], "Has no effect here", "Has no effect here"),
];

/// Parses `args` (the program name first). A mistyped subcommand (`ftptrigger histroy`)
/// would be taken for a CID and end with a complaint about `--md5`; when the only word is one
/// edit from a subcommand's name, that is the likelier mistake, and the error says so.
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let parsed = command()
        .try_get_matches_from(&args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    parsed.map_err(|err| match mistyped_subcommand(&args[1.min(args.len())..]) {
        Some((typed, meant)) if err.kind() == clap::error::ErrorKind::MissingRequiredArgument => {
            command().error(
                clap::error::ErrorKind::InvalidSubcommand,
                format!("unrecognized subcommand '{typed}': did you mean '{meant}'? (a run needs <CID> <FILE> --md5 <HEX>)"),
            )
        }
        _ => err,
    })
}

/// The one word among `args` (options and their values left out) and the subcommand it is one
/// edit (a letter added, dropped, changed, or two swapped) away from.
fn mistyped_subcommand(args: &[std::ffi::OsString]) -> Option<(String, String)> {
    let mut words = Vec::new();
    let mut args = args.iter().map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        match arg.as_ref() {
            "-c" | "--config" | "--md5" | "--md5-file" | "--sha256" | "--sha256-file" => {
                args.next();
            }
            option if option.starts_with('-') => {}
            word => words.push(word.to_owned()),
        }
    }
    let [typed] = words.as_slice() else { return None };
    let cmd = command();
    let meant = cmd
        .get_subcommands()
        .map(clap::Command::get_name)
        .find(|name| strsim::osa_distance(typed, name) == 1)?;
    Some((typed.clone(), meant.to_owned()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_consistent() {
        super::command().debug_assert();
    }

    #[test]
    fn a_word_one_edit_from_a_subcommand_is_suggested_only_alone() {
        let args = |words: &[&str]| words.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        for (typed, meant) in
            [("histroy", "history"), ("chek", "check"), ("scann", "scan"), ("explian", "explain")]
        {
            let found = super::mistyped_subcommand(&args(&["-c", "x.cfg", typed]));
            assert_eq!(found, Some((typed.to_owned(), meant.to_owned())));
        }
        assert_eq!(super::mistyped_subcommand(&args(&["histroy", "file.zip"])), None, "a FILE follows");
        assert_eq!(super::mistyped_subcommand(&args(&["acme"])), None);
        assert_eq!(super::mistyped_subcommand(&args(&["--md5", "chek", "acme"])), None);
    }
}
