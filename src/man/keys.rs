//! Every key of `ftpscanner.cfg`, with its type, default and meaning: the man page's
//! CONFIGURATION section. A test holds it to the schema the loader accepts.

/// One key: the section it belongs to, its name, type, default and meaning.
pub struct Key {
    pub section: &'static str,
    pub name: &'static str,
    pub kind: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

const fn key(
    section: &'static str,
    name: &'static str,
    kind: &'static str,
    default: &'static str,
    meaning: &'static str,
) -> Key {
    Key { section, name, kind, default, meaning }
}

/// Every key, section by section. `defaults, rule`: the keys `[defaults]` and every `[[rule]]`
/// share, where a rule's value wins.
pub const KEYS: &[Key] = &[
    key("journal", "path", "path", "$XDG_STATE_HOME/ftptrigger/journal.db", "the SQLite journal"),
    key("journal", "retention", "duration", "90d", "runs older than this are pruned"),
    key(
        "defaults, rule",
        "timeout",
        "duration",
        "1h",
        "the command is killed (its whole process group) after this: exit 15",
    ),
    key(
        "defaults, rule",
        "kill_grace",
        "duration",
        "10s",
        "after SIGTERM to the group, SIGKILL follows after this",
    ),
    key(
        "defaults, rule",
        "lock_wait",
        "duration",
        "10m",
        "a second run of the same file waits this long, then exits 16",
    ),
    key(
        "defaults, rule",
        "duplicates",
        "\"skip\" | \"run\"",
        "\"skip\"",
        "whether what succeeded before runs again",
    ),
    key("defaults, rule", "notify", "[channel names]", "[]", "channels told about failures"),
    key("defaults, rule", "notify_success", "[channel names]", "[]", "channels told about successes"),
    key(
        "defaults, rule",
        "env_file",
        "path",
        "none",
        "KEY=VALUE lines where *_env secrets are looked up after the environment",
    ),
    key(
        "defaults, rule",
        "settle",
        "duration",
        "30s",
        "scan: a file runs once it and its sidecar are unchanged this long",
    ),
    key(
        "defaults, rule",
        "sidecar_wait",
        "duration",
        "24h",
        "scan: a file without its sidecar (or the reverse) is reported once this old",
    ),
    key("rule", "name", "string", "\"CID:PATTERN\"", "unique; names the rule in messages and the journal"),
    key("rule", "cid", "string", "required", "the customer id the rule is for, matched exactly"),
    key("rule", "pattern", "glob", "one of pattern, regex", "matches the file's base name"),
    key(
        "rule",
        "regex",
        "regex",
        "one of pattern, regex",
        "matches the whole base name; named groups are placeholders",
    ),
    key("rule", "root", "path", "required", "the file must resolve inside this directory"),
    key(
        "rule",
        "command",
        "[program, args...]",
        "required",
        "run without a shell; placeholders such as {file} per argument",
    ),
    key("rule", "workdir", "path", "the config's directory", "the command's working directory"),
    key("rule", "env", "{NAME = value}", "{}", "added to the command's environment"),
    key("rule", "tags", "{name = value}", "{}", "copied into notifications"),
    key(
        "rule",
        "recursive",
        "bool",
        "false",
        "scan: walk the root's subdirectories too (never through symlinks)",
    ),
    key("rule", "sidecar", "path template", "\"{file}.md5\"", "scan: where a file's MD5 sidecar is"),
    key("channel.NAME", "type", "\"email\" | \"webhook\"", "required", "what the channel is"),
    key(
        "email",
        "smtp",
        "URL",
        "one of smtp, transport",
        "smtp:// (STARTTLS required), smtps:// (TLS), smtp+plain:// (no TLS)",
    ),
    key(
        "email",
        "transport",
        "\"smtp\" | \"sendmail\"",
        "\"smtp\"",
        "\"sendmail\" hands the message to the local MTA",
    ),
    key("email", "from", "address", "required", "the sender, as `Name <a@example.com>` or `a@example.com`"),
    key("email", "to", "[addresses]", "required", "the recipients (at least one)"),
    key("email", "username", "string", "none", "for SMTP AUTH, with password_env"),
    key("email", "password_env", "variable name", "none", "the variable holding the SMTP password"),
    key("email", "timeout", "duration", "30s", "per SMTP step"),
    key("email", "ca_file", "path", "public CAs", "PEM certificates the server's must chain to instead"),
    key("webhook", "url", "URL", "required", "http:// or https://; gets a POST of the JSON result"),
    key(
        "webhook",
        "secret_env",
        "variable name",
        "none",
        "adds X-Ftptrigger-Signature: sha256=<HMAC of the body>",
    ),
    key("webhook", "bearer_token_env", "variable name", "none", "adds Authorization: Bearer <token>"),
    key("webhook", "headers", "{name = value}", "{}", "extra headers (not those ftptrigger sets)"),
    key("webhook", "timeout", "duration", "10s", "per attempt"),
    key("webhook", "retries", "integer", "3", "on connect errors, timeouts, 408, 429, 5xx"),
    key("webhook", "ca_file", "path", "public CAs", "PEM certificates the server's must chain to instead"),
];
