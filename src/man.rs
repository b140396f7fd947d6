//! The man page, generated from the clap definition plus the sections clap does not know
//! (exit status, files, environment). `tests` compare it with `man/ftptrigger.1`.

pub mod keys;

use roff::{Roff, bold, italic, roman};

use crate::outcome::TABLE;

/// The complete `ftptrigger(1)` page in roff.
pub fn render() -> Vec<u8> {
    let man = clap_mangen::Man::new(crate::cli::command()).date("");
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = man.render_title(&mut out);
    let _ = man.render_name_section(&mut out);
    let _ = man.render_synopsis_section(&mut out);
    let _ = man.render_description_section(&mut out);
    let _ = man.render_options_section(&mut out);
    let _ = subcommands().to_writer(&mut out);
    let _ = configuration().to_writer(&mut out);
    let _ = extra_sections().to_writer(&mut out);
    let _ = man.render_version_section(&mut out);
    out
}

/// Every subcommand in this one page, with its usage and arguments (clap_mangen would point at
/// separate `ftptrigger-NAME(1)` pages instead).
fn subcommands() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["SUBCOMMANDS"]);
    let mut cmd = crate::cli::command();
    cmd.build();
    for sub in cmd.get_subcommands_mut().filter(|s| s.get_name() != "help") {
        let usage = sub.render_usage().to_string();
        let usage = usage.trim_start_matches("Usage: ").trim().to_owned();
        roff.control("TP", []);
        roff.text([bold(usage)]);
        roff.text([roman(sub.get_about().map(|a| a.to_string()).unwrap_or_default())]);
        for arg in sub.get_positionals() {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            roff.control("IP", []);
            roff.text([
                italic(format!("<{}>", arg.get_id().as_str().to_uppercase())),
                roman(format!("  {help}")),
            ]);
        }
        // Its own options; the global ones are under OPTIONS.
        for arg in
            sub.get_arguments().filter(|a| !a.is_positional() && !a.is_global_set() && a.get_id() != "help")
        {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let long = arg.get_long().map(|l| format!("--{l}")).unwrap_or_default();
            let value = match arg.get_value_names() {
                Some(names) if arg.get_action().takes_values() => format!(" <{}>", names.join(" ")),
                _ => String::new(),
            };
            roff.control("IP", []);
            roff.text([bold(long), italic(value), roman(format!("  {help}"))]);
        }
    }
    roff
}

/// Every key of the config file, section by section, with its type and default.
fn configuration() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["CONFIGURATION"]);
    roff.text([roman(
        "The config is TOML. Durations are humane (90s, 10m, 1h30m); relative paths resolve against the \
         config's directory; secrets are never inline, only named by *_env keys. Sections:",
    )]);
    let sections = [
        ("[journal]", "journal"),
        ("[defaults] (and each [[rule]], whose value wins)", "defaults, rule"),
        ("[[rule]], one per CID and file pattern; the first that matches wins", "rule"),
        ("[channel.NAME]", "channel.NAME"),
        ("[channel.NAME] with type = \"email\"", "email"),
        ("[channel.NAME] with type = \"webhook\"", "webhook"),
        (
            "oauth2 = { ... } of a webhook: tokens kept in memory, renewed before expires_in runs out, \
             fetched anew once on a 401",
            "webhook.oauth2",
        ),
        ("[serve], read by ftptrigger serve", "serve"),
    ];
    for (title, section) in sections {
        roff.control("SS", [title]);
        for key in keys::KEYS.iter().filter(|k| k.section == section) {
            roff.control("TP", []);
            roff.text([
                bold(key.name),
                roman(" "),
                italic(key.kind),
                roman(format!(" (default: {})", key.default)),
            ]);
            roff.text([roman(key.meaning)]);
        }
    }
    roff
}

fn extra_sections() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    roff.text([roman("The exit codes are stable; hooks and scripts may rely on them. Every outcome from 11 to 16 is a failure.")]);
    for row in TABLE {
        roff.control("TP", []);
        roff.text([bold(row.code.to_string()), roman(format!(" ({})", row.name))]);
        roff.text([roman(row.meaning)]);
    }
    roff.control("SH", ["FILES"]);
    terms(
        &mut roff,
        &[
            (
                "/etc/ftptrigger/ftpscanner.cfg",
                "the config, when neither --config nor FTPTRIGGER_CONFIG names one. The working directory is never \
             searched: an FTP server runs its hooks inside the customer's upload directory",
            ),
            (
                "$XDG_STATE_HOME/ftptrigger/journal.db",
                "the journal (SQLite, WAL) unless [journal] path says otherwise; ~/.local/state/ftptrigger/journal.db \
             when XDG_STATE_HOME is unset. One row per run; history reads it. Runs older than [journal] retention \
             are pruned. A journal inside a root of the config's rules is refused (exit 10): customers can write \
             there",
            ),
            (
                "locks/ beside the journal",
                "one lock file per CID and file, held with flock for the length of a run; a second run of the same \
             file waits up to lock_wait (--no-wait: not at all) and then exits 16. The job inherits the locked \
             descriptor (FTPTRIGGER_LOCK_FD), so the lock outlives a SIGKILLed ftptrigger until the job ends",
            ),
        ],
    );
    roff.control("PP", []);
    roff.text([roman(
        "The config must not be writable by group or others, and must be owned by root or the user running ftptrigger. Relative paths inside it resolve against its directory. \
         See ftpscanner.cfg.example for every key.",
    )]);
    roff.control("SH", ["SIGNALS"]);
    roff.text([roman(
        "SIGTERM, SIGINT and SIGHUP are passed on to the command's process group; SIGKILL follows after \
         kill_grace. The run is recorded as interrupted and ftptrigger exits 128+n. A run whose ftptrigger died \
         without recording its end (SIGKILL, power loss) is shown as interrupted from then on.",
    )]);
    roff.control("SH", ["SERVICE"]);
    roff.text([roman(
        "ftptrigger serve answers HTTP under [serve] base_path: POST /ftpscanner/ with cid, filename (relative to \
         the root of the CID's first rule whose pattern takes it) and md5 (or sha256), as JSON or a form, runs the \
         file as the CLI would and answers the result object when the run ends; with ?async=true or Prefer: respond-async it \
         answers 202 {\"run_id\": N, \"status\": \"queued\"} at once. GET /runs (count, cid, failed) and GET \
         /runs/ID show the journal's runs; GET /healthz and GET /metrics (Prometheus text). Bad fields are 422 \
         naming each one; bodies over 64 KiB 413; with token_env, a missing or wrong Authorization: Bearer token \
         401. Accepted runs wait as queued journal rows for one of [serve] workers, and survive a restart. SIGHUP \
         or a change of the config file reloads it (a config with errors is refused, the old one kept); SIGTERM \
         or SIGINT answers 503 to new requests, gives running jobs shutdown_grace, then passes SIGTERM on, and \
         exits 0. POST /events (listener_type tagged_file, company_id, tags, outcomes, action.callback_url), GET \
         /events, GET and DELETE /events/ID manage event subscriptions, kept in the journal: a run of any entry \
         point that matches one sends its callback through the outbox (signed with [serve] callback_secret_env; \
         with delete_after_action, once). The status of a finished run, by outcome:",
    )]);
    for row in TABLE.iter().filter(|row| {
        row.code != crate::outcome::Code::Exit(2) && !matches!(row.name, "scan_failed" | "delivery_failed")
    }) {
        roff.control("TP", []);
        roff.text([bold(row.http.to_string()), roman(format!(" ({})", row.name))]);
    }
    roff.control("SH", ["DUPLICATES"]);
    roff.text([roman(
        "A file whose CID, file name and MD5 already ended in success is not run again: exit 0, outcome \
         duplicate_skipped. --force runs it anyway; duplicates = \"run\" turns the check off. The MD5 is computed \
         even when the sender gave a SHA-256, in the same pass over the file.",
    )]);
    roff.control("SH", ["LIFECYCLE"]);
    roff.text([roman(
        "on_success and on_failure (in a rule or [defaults]) act on the upload once its run is over: { move_to = \
         \"DIR\" } moves the file, and the sidecar that verified it when that lies in the file's directory and \
         names no other file, into DIR below the rule's root; { delete = true } removes both; {} leaves them (the \
         default). on_success follows exit 0; on_failure follows 12, 13 for a refused content type (mime), 14 and \
         15, never 11, 16, an interruption, a skipped duplicate or another 13. DIR may use {date} (YYYYMMDD, local \
         time), {cid} {rule} {filename} {stem} {ext} {md5} {size} {run_id} and the regex's named groups; it is \
         created as needed, component by component from the root's descriptor and never through a symlink, and \
         check refuses one with .. or an absolute path. A name already taken becomes NAME.1, NAME.2, ...: nothing \
         is overwritten. Within a filesystem the move is a rename; across filesystems the verified file is \
         copied, synced, renamed into place, and only then removed. A file changed or replaced since it was \
         verified stays, for its own run. moved_to (absolute) is in the result, the journal, notifications and \
         history; the message ends \"; moved to PATH\", \"; deleted\" or \"; left in place: \" and why. scan does \
         not look inside the fixed part of a move_to (done for done/{date}): what is there was processed. A typical \
         layout: uploads in the root, on_success = { move_to = \"done/{date}\" }, on_failure = { move_to = \
         \"failed\" }.",
    )]);
    roff.control("SH", ["NOTIFICATIONS"]);
    roff.text([roman(
        "Failures (exit 11 to 16, interrupted) are sent to the matching rule's notify channels ([defaults] notify \
         when no rule matched); successes to notify_success channels. Webhooks get a POST of the JSON result with \
         X-Ftptrigger-Event, X-Ftptrigger-Delivery (the event_id, the same on every retry) and, with secret_env, \
         X-Ftptrigger-Signature: sha256=<hex HMAC-SHA256 of the body>. Email is one plain-text message to all \
         recipients. Every delivery is written to the outbox in the journal first; what fails stays there until \
         outbox flush delivers it. Notification trouble never changes the exit code.",
    )]);
    roff.control("SH", ["ENVIRONMENT"]);
    terms(
        &mut roff,
        &[
            (
                "FTPTRIGGER_CONFIG",
                "the config file, when --config is not given; must be an absolute path (exit 10 otherwise)",
            ),
            (
                "XDG_STATE_HOME, HOME",
                "where the journal goes when the config does not name it; a value that is not an absolute path is ignored",
            ),
            (
                "PATH",
                "where a command named without a slash (command = [\"gzip\", ...]) and the sendmail transport's sendmail \
         are found. Only absolute entries are searched: an empty or relative entry would name the working directory",
            ),
            (
                "FTPTRIGGER_CID, FTPTRIGGER_FILE, FTPTRIGGER_FILENAME, FTPTRIGGER_MD5, FTPTRIGGER_SIZE, FTPTRIGGER_RULE, FTPTRIGGER_RUN_ID",
                "set for the command, besides the placeholders {cid} {file} {filename} {stem} {ext} {dir} {md5} {size} {rule} {run_id} in its arguments",
            ),
            (
                "FTPTRIGGER_FILE_FD, FTPTRIGGER_LOCK_FD",
                "descriptors the command inherits, always 3 and 4: the file, read-only and at its start, opened once and \
         verified through; and the lock. Reading /dev/fd/$FTPTRIGGER_FILE_FD reads the verified file even if the path is swapped \
         once the command runs. No other descriptor reaches the command, not even one ftptrigger inherited",
            ),
        ],
    );
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "md5sum(1), sha256sum(1), crontab(5), pure-ftpd(8), proftpd(8), sqlite3(1); README.md, SECURITY.md and \
         contrib/README.md (the FTP server recipes), installed under share/doc/ftptrigger.",
    )]);
    roff
}

/// A list of terms and what each means (`.TP`), as FILES and ENVIRONMENT are.
fn terms(roff: &mut Roff, entries: &[(&str, &str)]) {
    for (term, meaning) in entries {
        roff.control("TP", []);
        roff.text([bold(*term)]);
        roff.text([roman(*meaning)]);
    }
}
