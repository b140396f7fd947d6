//! Finding, reading and validating the config: every problem with its line and column.

use std::path::Path;

use crate::support::{BASIC_CONFIG, Trigger, World, md5_hex, no_system_config, write_mode};

fn run_basic(w: &World, trigger: Trigger) -> crate::support::Run {
    let file = w.upload("a.zip", b"x");
    trigger.arg("acme").arg(file).args(["--md5", &md5_hex(b"x")]).run()
}

/// Moves the world's good config to `name` and leaves garbage in `./ftpscanner.cfg`, so a
/// run only succeeds if the lookup picked the right one (the working directory is never
/// searched: `upload_dir.rs`).
fn move_config(w: &World, name: &str) -> std::path::PathBuf {
    let good = w.path(name);
    std::fs::rename(w.config_path(), &good).unwrap();
    write_mode(&w.config_path(), b"this is not toml", 0o600);
    good
}

#[test]
fn config_flag_wins_over_the_environment_and_the_working_directory() {
    let w = World::new();
    let good = move_config(&w, "good.cfg");
    let env_cfg = w.path("env.cfg");
    write_mode(&env_cfg, b"also not toml", 0o600);
    run_basic(&w, w.cmd_no_config().arg("-c").arg(&good).env("FTPTRIGGER_CONFIG", &env_cfg)).code(0);
    assert!(w.job_ran());
}

#[test]
fn environment_variable_names_the_config() {
    let w = World::new();
    let good = move_config(&w, "env.cfg");
    run_basic(&w, w.cmd_no_config().env("FTPTRIGGER_CONFIG", &good)).code(0);
    assert!(w.job_ran());
}

#[test]
fn no_config_anywhere_exits_10_naming_every_path_tried() {
    let Some(_no_system_config) = no_system_config("no_config_anywhere_exits_10_naming_every_path_tried")
    else {
        return;
    };
    let w = World::empty();
    Trigger::bare().args(["check"]).run().code(10).stderr_has(
        "ERROR[10]: no config file found; tried /etc/ftptrigger/ftpscanner.cfg, since neither --config nor \
         FTPTRIGGER_CONFIG names one",
    );
    let missing = w.path("missing.cfg");
    w.cmd_no_config()
        .arg("-c")
        .arg(&missing)
        .args(["acme", "a.zip", "--md5", &md5_hex(b"")])
        .run()
        .code(10)
        .stderr_has(&format!("tried {}", missing.display()));
}

#[test]
fn config_writable_by_others_is_refused() {
    for mode in [0o666, 0o620, 0o602] {
        let w = World::new();
        std::fs::set_permissions(w.config_path(), std::os::unix::fs::PermissionsExt::from_mode(mode))
            .unwrap();
        let expected = format!("is writable by group or others (mode {mode:04o})");
        run_basic(&w, w.cmd()).code(10).stderr_has(&expected);
        w.cmd().arg("check").run().code(10).stdout_has(&expected);
        assert!(!w.job_ran());
    }
}

/// Its owner can chmod it writable again, so a config owned by anyone but root or the user
/// running ftptrigger is refused like a writable one. Only root can give a file away.
#[test]
fn config_owned_by_another_user_is_refused() {
    if !crate::support::is_root() {
        eprintln!("skipped: only root can chown the config to another user");
        return;
    }
    let w = World::new();
    rustix::fs::chown(w.config_path(), Some(rustix::fs::Uid::from_raw(65534)), None).unwrap();
    let expected = "is owned by uid 65534, neither root nor the user running ftptrigger (uid 0)";
    run_basic(&w, w.cmd()).code(10).stderr_has(expected);
    w.cmd().arg("check").run().code(10).stdout_has(expected);
    assert!(!w.job_ran());
}

#[test]
fn config_that_is_a_directory_or_fifo_is_refused_without_hanging() {
    let w = World::new();
    std::fs::remove_file(w.config_path()).unwrap();
    std::fs::create_dir(w.config_path()).unwrap();
    run_basic(&w, w.cmd()).code(10).stderr_has("ERROR[10]");
    std::fs::remove_dir(w.config_path()).unwrap();
    rustix::fs::mkfifoat(rustix::fs::CWD, w.config_path(), rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    run_basic(&w, w.cmd().timeout(std::time::Duration::from_secs(10)))
        .code(10)
        .stderr_has("not a regular file");
}

#[test]
fn invalid_toml_names_line_and_column() {
    let w = World::new();
    let cfg = w.config("[[rule]]\nname = \"a\"\ncid = acme\n");
    let expected = format!("{}:3:7: toml: ", cfg.display());
    run_basic(&w, w.cmd()).code(10).stderr_has(&expected).stderr_has("ERROR[10]: config");
    w.cmd().arg("check").run().code(10).stdout_has(&expected);
}

#[test]
fn config_that_is_not_utf8_is_refused() {
    let w = World::new();
    write_mode(&w.config_path(), b"# caf\xe9\n", 0o600);
    w.cmd().arg("check").run().code(10).stdout_has(":1:6: file: the config is not valid UTF-8");
}

/// Every kind of problem, all in one file, all reported at once, in file order.
const BAD: &str = r#"[defaults]
timeout = "soon"
notify = ["nowhere"]
colour = "blue"

[[rule]]
name = "a"
cid = "acme"
pattern = "[*.zip"
root = "ftp"
command = ["/bin/true", "{nope}"]

[[rule]]
name = "a"
cid = "acme"
regex = '(unclosed'
root = "ftp"
command = ["/bin/true"]

[[rule]]
cid = "acme"
pattern = "*.zip"
root = 42
command = ["/bin/true"]

[[rule]]
cid = "beta"
pattern = "*.zip"
command = []
root = "x"
kill_grace = "1x"

[[rule]]
cid = "beta"
root = "x"
command = ["/bin/{cid}"]

[channel.mail]
type = "email"
smtp = "http://x"
from = "nobody"
to = []

[channel.hook]
type = "webhook"
url = "https://x/"
retries = -1

[channel.other]
type = "pager"

[extra]
x = 1
"#;

#[test]
fn check_reports_every_problem_at_once() {
    let w = World::new();
    let cfg = w.config(BAD);
    let run = w.cmd().arg("check").run().code(10);
    let p = cfg.display().to_string();
    let expected = [
        format!("{p}:2:11: defaults.timeout: invalid duration \"soon\""),
        format!("{p}:3:11: defaults.notify[0]: unknown channel \"nowhere\"; defined: hook, mail"),
        format!("{p}:4:1: defaults.colour: unknown field `colour`"),
        format!("{p}:9:11: rule[0].pattern: invalid glob: unclosed character class"),
        format!("{p}:11:25: rule[0].command[1]: unknown placeholder `{{nope}}`"),
        format!("{p}:14:8: rule[1].name: duplicate rule name \"a\" (first used by the rule at line 6)"),
        format!("{p}:16:9: rule[1].regex: invalid regex: unclosed group"),
        format!("{p}:23:8: rule[2].root: invalid type: integer `42`, expected a string"),
        format!("{p}:29:11: rule[3].command: must name a program"),
        format!("{p}:31:14: rule[3].kill_grace: invalid duration \"1x\""),
        format!("{p}:33:1: rule[4]: missing `pattern` (a glob) or `regex`"),
        format!("{p}:36:12: rule[4].command[0]: the program must be a fixed path"),
        format!("{p}:40:8: channel.mail.smtp: expected smtp://HOST[:PORT]"),
        format!("{p}:41:8: channel.mail.from: \"nobody\" is not an email address"),
        format!("{p}:42:6: channel.mail.to: needs at least one address"),
        format!("{p}:47:11: channel.hook.retries: invalid value: integer `-1`, expected u32"),
        format!("{p}:50:8: channel.other.type: unknown channel type"),
        format!("{p}:52:2: extra: unknown section"),
    ];
    let out = run.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), expected.len() + 1, "one line per problem plus a summary:\n{out}");
    for (line, want) in lines.iter().zip(&expected) {
        assert!(line.starts_with(want.as_str()), "expected a line starting with\n  {want}\ngot\n  {line}");
    }
    assert_eq!(lines[expected.len()], format!("{p}: {} errors", expected.len()));
    // A run with the same config fails the same way, before touching the file.
    run_basic(&w, w.cmd()).code(10).stderr_has(&expected[0]).stderr_has("ERROR[10]");
    assert!(!w.job_ran());
}

#[test]
fn a_rule_missing_required_keys_still_has_its_other_problems_reported() {
    let w = World::new();
    let cfg =
        w.config("[[rule]]\npattern = \"[x\"\ncommand = [\"./job.sh\", \"{nope}\"]\ntimeout = \"soon\"\n");
    let p = cfg.display();
    let out = w.cmd().arg("check").run().code(10).stdout();
    let lines: Vec<&str> = out.lines().collect();
    let expected = [
        format!("{p}:1:1: rule[0]: missing field `cid`"),
        format!("{p}:1:1: rule[0]: missing field `root`"),
        format!("{p}:2:11: rule[0].pattern: invalid glob: unclosed character class"),
        format!("{p}:3:24: rule[0].command[1]: unknown placeholder `{{nope}}`"),
        format!("{p}:4:11: rule[0].timeout: invalid duration \"soon\""),
        format!("{p}: 5 errors"),
    ];
    assert_eq!(lines.len(), expected.len(), "{out}");
    for (line, want) in lines.iter().zip(&expected) {
        assert!(line.starts_with(want.as_str()), "expected a line starting with\n  {want}\ngot\n  {line}");
    }
}

#[test]
fn check_warns_of_a_missing_root_or_program_and_a_rule_that_can_never_match() {
    let w = World::new();
    let cfg = w.config(&format!(
        "{BASIC_CONFIG}\n[[rule]]\nname = \"later\"\ncid = \"acme\"\npattern = \"*.zip\"\nroot = \"ftp/nowhere\"\n\
         command = [\"./gone.sh\"]\n\n[[rule]]\nname = \"bare\"\ncid = \"beta\"\npattern = \"*\"\nroot = \"ftp/acme\"\n\
         command = [\"no-such-tool-on-any-path\"]\n"
    ));
    let p = cfg.display();
    let out = w.cmd().arg("check").run().code(0).stdout();
    for want in [
        format!(
            "{p}:12:11: rule[1].pattern: warning: never matches: rule stmt (line 2) of the same CID comes first"
        ),
        format!("{p}:13:8: rule[1].root: warning: {} is not a directory", w.path("ftp/nowhere").display()),
        format!("{p}:14:12: rule[1].command[0]: warning: {} does not exist", w.path("gone.sh").display()),
        format!("{p}:21:12: rule[2].command[0]: warning: no-such-tool-on-any-path is not in PATH"),
    ] {
        assert!(out.contains(&want), "expected\n  {want}\nin\n{out}");
    }
    assert!(out.contains("ok: 3 rules, 0 channels, 4 warnings"), "{out}");
}

#[test]
fn a_mistyped_key_gets_the_likely_one_suggested() {
    let w = World::new();
    w.config(&format!("{BASIC_CONFIG}timout = \"1m\"\n"));
    w.cmd()
        .arg("check")
        .run()
        .code(10)
        .stdout_has("rule[0].timout: unknown field `timout`")
        .stdout_has("did you mean `timeout`?");
    w.config(&format!("{BASIC_CONFIG}colour = \"red\"\n"));
    let out = w.cmd().arg("check").run().code(10).stdout();
    assert!(out.contains("unknown field `colour`") && !out.contains("did you mean"), "{out}");
}

#[test]
fn warnings_do_not_fail_check() {
    let w = World::new();
    w.config(&format!(
        "{BASIC_CONFIG}\n[channel.hook]\ntype = \"webhook\"\nurl = \"https://example.com/\"\nsecret_env = \"FTPTRIGGER_TEST_UNSET_SECRET\"\n"
    ));
    w.cmd()
        .arg("check")
        .run()
        .code(0)
        .stdout_has("channel.hook.secret_env: warning: FTPTRIGGER_TEST_UNSET_SECRET is set neither")
        .stdout_has("ok: 1 rule, 1 channel, 1 warning");
    w.cmd()
        .arg("check")
        .env("FTPTRIGGER_TEST_UNSET_SECRET", "s3cret")
        .run()
        .code(0)
        .stdout_has("ok: 1 rule, 1 channel, 0 warnings");
}

#[test]
fn env_file_satisfies_secret_lookups() {
    let w = World::new();
    write_mode(&w.path("secrets.env"), b"# comment\nexport HOOK_SECRET='abc'\n", 0o600);
    w.config(&format!(
        "[defaults]\nenv_file = \"secrets.env\"\n{BASIC_CONFIG}\n[channel.hook]\ntype = \"webhook\"\nurl = \"https://example.com/\"\nsecret_env = \"HOOK_SECRET\"\n"
    ));
    w.cmd().arg("check").run().code(0).stdout_has("0 warnings");
}

/// An `env_file` naming a FIFO would block the load and a device would be read forever; both
/// are refused at once, as is a file too large to be a list of secrets.
#[test]
fn env_file_that_is_a_fifo_a_device_or_huge_is_refused_without_hanging() {
    let w = World::new();
    let fifo = w.path("secrets.fifo");
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    let huge = w.path("huge.env");
    write_mode(&huge, &vec![b'#'; (1 << 20) + 1], 0o600);
    for (env_file, problem) in [
        (fifo.to_str().unwrap(), "not a regular file"),
        ("/dev/zero", "not a regular file"),
        (huge.to_str().unwrap(), "larger than 1 MiB"),
    ] {
        let cfg = w.config(&format!("[defaults]\nenv_file = \"{env_file}\"\n{BASIC_CONFIG}"));
        let expected =
            format!("{}:2:12: defaults.env_file: cannot read {env_file}: {problem}", cfg.display());
        w.cmd().arg("check").timeout(std::time::Duration::from_secs(10)).run().code(10).stdout_has(&expected);
    }
}

/// `ca_file` names the PEM certificates a channel's server must chain to: one that cannot be
/// read or holds no certificate is a config error at its line and column, found by `check`.
#[test]
fn a_ca_file_that_is_missing_or_holds_no_certificate_is_refused() {
    let w = World::new();
    write_mode(&w.path("broken.pem"), b"-----BEGIN CERTIFICATE-----\nMIIB\n", 0o644);
    write_mode(
        &w.path("key-only.pem"),
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        0o644,
    );
    for (ca_file, problem) in [
        ("missing.pem", "cannot read"),
        ("broken.pem", "is not valid PEM"),
        ("key-only.pem", "holds no PEM certificate"),
    ] {
        let cfg = w.config(&format!(
            "{BASIC_CONFIG}\n[channel.hook]\ntype = \"webhook\"\nurl = \"https://example.com/\"\nca_file = \"{ca_file}\"\n"
        ));
        let expected = format!("{}:12:11: channel.hook.ca_file: ", cfg.display());
        w.cmd().arg("check").run().code(10).stdout_has(&expected).stdout_has(problem);
    }
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let w = World::new();
    let file = w.upload("a.zip", b"x");
    let mut t = w.cmd();
    t.cmd.current_dir("/");
    t.arg("acme").arg(&file).args(["--md5", &md5_hex(b"x")]).run().code(0);
    assert!(w.job_ran());
}

#[test]
fn shipped_example_config_passes_check() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("ftpscanner.cfg.example");
    // A checkout made under umask 002 leaves it group-writable, which ftptrigger refuses.
    std::fs::set_permissions(&example, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    // git keeps no mode but the executable bit: the example secrets come out world-readable,
    // which check rightly warns about. An operator would chmod them as this does.
    let secrets = example.with_file_name("examples/secrets.env");
    std::fs::set_permissions(&secrets, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    Trigger::bare()
        .arg("check")
        .arg("-c")
        .arg(&example)
        .run()
        .code(0)
        .stdout_has("ok: 2 rules, 3 channels, 0 warnings");
}

/// The index a run keeps of where each customer's rules are (beside the journal).
fn index_files(w: &World) -> Vec<std::path::PathBuf> {
    let dir = w.journal_dir().join("ftptrigger/config-index");
    std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}

#[test]
fn a_run_reads_in_full_only_the_rules_of_its_cid() {
    let w = World::new();
    w.config(&format!(
        "{BASIC_CONFIG}\n[[rule]]\ncid = \"other\"\npattern = \"[broken\"\nroot = \"ftp/acme\"\ncommand = [\"./job.sh\"]\n"
    ));
    // acme's run does not compile another customer's patterns, neither a run that parses the
    // whole file and keeps an index of it (the first once the journal's directory exists) nor
    // the next (which reads the index)...
    run_basic(&w, w.cmd()).code(0);
    assert!(w.job_ran());
    run_basic(&w, w.cmd()).code(0);
    let index = index_files(&w);
    assert_eq!(index.len(), 1, "the first run keeps an index beside the journal");
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let made = inode(&index[0]);
    let file = w.upload("c.zip", b"z");
    w.cmd().arg("acme").arg(file).args(["--md5", &md5_hex(b"z")]).run().code(0);
    assert_eq!(inode(&index[0]), made, "the second run read the index instead of making it again");
    // ...but check, and a run of that customer, report the problem.
    let expected = format!("{}:11:11: rule[1].pattern: invalid glob", w.config_path().display());
    w.cmd().arg("check").run().code(10).stdout_has(&expected);
    let file = w.upload("b.zip", b"y");
    w.cmd().arg("other").arg(file).args(["--md5", &md5_hex(b"y")]).run().code(10).stderr_has(&expected);
}

/// A syntax error anywhere makes the whole file ambiguous, so it stops every run, even the
/// runs of customers whose own rules are fine and even after an index of the file was made
/// (the fuzzer once found a run that never saw such an error inside another customer's rule).
#[test]
fn a_syntax_error_in_any_rule_stops_every_run() {
    let w = World::new();
    let other = |line: &str| {
        format!(
            "{BASIC_CONFIG}\n[[rule]]\ncid = \"other\"\npattern = \"*\"\nroot = \"ftp/acme\"\n{line}\ncommand = [\"./job.sh\"]\n"
        )
    };
    w.config(&other("# a fine comment"));
    run_basic(&w, w.cmd()).code(0);
    run_basic(&w, w.cmd()).code(0);
    assert_eq!(index_files(&w).len(), 1);
    std::fs::remove_file(w.path("out/argv")).unwrap();
    for (line, at) in [
        ("# a comment with \u{1} in it", "13:18: toml: invalid comment character"),
        ("tags = { team = \"unterminated }", "13:"),
    ] {
        let cfg = w.config(&other(line));
        let expected = format!("{}:{at}", cfg.display());
        let file = w.upload("fresh.zip", line.as_bytes());
        w.cmd()
            .arg("acme")
            .arg(&file)
            .args(["--md5", &md5_hex(line.as_bytes())])
            .run()
            .code(10)
            .stderr_has(&expected);
        w.cmd().arg("check").run().code(10).stdout_has(&expected);
        assert!(!w.job_ran());
    }
}

/// `[rule.env]` belongs to the last `[[rule]]` above it, even with other tables between them:
/// found by fuzzing, when the index left such a table to every customer's runs.
#[test]
fn a_table_of_a_rule_after_other_sections_stays_with_its_rule() {
    let w = World::new();
    w.config(&format!(
        "[[rule]]\ncid = \"other\"\npattern = \"*\"\nroot = \"ftp/acme\"\ncommand = [\"./job.sh\"]\n\n\
         [channel.hook]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n\n[rule.env]\nQUEUE = \"other's\"\n{BASIC_CONFIG}"
    ));
    // The first runs parse the whole file (the second keeps the index), the last ones read it.
    for n in 0..4 {
        let (cid, name) =
            if n % 2 == 0 { ("acme", format!("{n}.zip")) } else { ("other", format!("{n}.txt")) };
        let file = w.upload(&name, name.as_bytes());
        w.cmd().arg(cid).arg(file).args(["--md5", &md5_hex(name.as_bytes())]).run().code(0);
        let env = w.recorded("env");
        assert_eq!(env.contains("QUEUE=other's\n"), cid == "other", "run {n} of {cid}: {env}");
    }
    assert_eq!(index_files(&w).len(), 1);
}

/// The index is only a shortcut: one that is damaged, or left by another config, is not used,
/// and the next run makes it again.
#[test]
fn a_damaged_index_is_made_again() {
    let w = World::new();
    run_basic(&w, w.cmd()).code(0);
    run_basic(&w, w.cmd()).code(0);
    let index = index_files(&w).pop().expect("an index");
    for damage in ["", "ftptrigger config index 1\nkey 0 0\n", "garbage\n"] {
        write_mode(&index, damage.as_bytes(), 0o600);
        let file = w.upload("again.zip", damage.as_bytes());
        w.cmd().arg("acme").arg(file).args(["--md5", &md5_hex(damage.as_bytes()), "--force"]).run().code(0);
        let remade = std::fs::read_to_string(&index).unwrap();
        assert!(remade.starts_with("ftptrigger config index 1\nkey "), "{remade}");
    }
}

#[test]
fn webhook_headers_cannot_override_what_ftptrigger_sets() {
    let w = World::new();
    w.config(&format!(
        "{BASIC_CONFIG}\n[channel.hook]\ntype = \"webhook\"\nurl = \"https://example.com/\"\nheaders = {{ X-Ftptrigger-Event = \"x\", authorization = \"y\", X-Team = \"ops\" }}\n"
    ));
    w.cmd()
        .arg("check")
        .run()
        .code(10)
        .stdout_has("channel.hook.headers.X-Ftptrigger-Event: set by ftptrigger itself")
        .stdout_has("channel.hook.headers.authorization: set by ftptrigger itself")
        .stdout_has(": 2 errors");
}

/// The man page's CONFIGURATION section lists exactly the keys the loader takes, section by
/// section: each section's unknown-key error names what it expects.
#[test]
fn the_man_pages_key_reference_is_the_schema() {
    use std::collections::BTreeSet;
    let w = World::new();
    let email = "[channel.m]\ntype = \"email\"\ntransport = \"sendmail\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n";
    let webhook = "[channel.h]\ntype = \"webhook\"\nurl = \"https://example.com/\"\n";
    for (section, text, listed) in [
        ("journal", "[journal]\nzz_unknown = 1\n".to_owned(), &["journal"][..]),
        ("defaults", "[defaults]\nzz_unknown = 1\n".to_owned(), &["defaults, rule"][..]),
        ("rule", format!("{BASIC_CONFIG}zz_unknown = 1\n"), &["rule", "defaults, rule"][..]),
        ("email", format!("{email}zz_unknown = 1\n"), &["email", "channel.NAME"][..]),
        ("webhook", format!("{webhook}zz_unknown = 1\n"), &["webhook", "channel.NAME"][..]),
        (
            "oauth2",
            format!(
                "{webhook}oauth2 = {{ token_url = \"https://example.com/t\", client_id = \"c\", \
                 client_secret_env = \"S\", zz_unknown = 1 }}\n"
            ),
            &["webhook.oauth2"][..],
        ),
        ("serve", "[serve]\nzz_unknown = 1\n".to_owned(), &["serve"][..]),
    ] {
        w.config(&text);
        let out = w.cmd().arg("check").run().code(10).stdout();
        let expected =
            out.split("`zz_unknown`, expected ").nth(1).unwrap_or_else(|| panic!("{section}: {out}"));
        let schema: BTreeSet<&str> = expected.lines().next().unwrap().split('`').skip(1).step_by(2).collect();
        let documented: BTreeSet<&str> = ftptrigger::man::keys::KEYS
            .iter()
            .filter(|k| listed.contains(&k.section))
            .map(|k| k.name)
            .collect();
        assert_eq!(documented, schema, "[{section}]");
    }
}

#[test]
fn check_speaks_json_and_keeps_quiet_on_success() {
    let w = World::new();
    let run = w.cmd().args(["check", "--json"]).run().code(0);
    let v = run.json();
    assert_eq!(
        (v["ok"].as_bool(), v["rules"].as_u64(), v["problems"].as_array().map(Vec::len)),
        (Some(true), Some(1), Some(0))
    );
    w.cmd().args(["check", "-q"]).run().code(0).stdout_is("");
    w.config(&format!("{BASIC_CONFIG}timeout = \"soon\"\n"));
    let v = w.cmd().args(["check", "--json"]).run().code(10).json();
    assert_eq!(v["ok"], false);
    let p = &v["problems"][0];
    assert_eq!(
        (p["line"].as_u64(), p["field"].as_str(), p["severity"].as_str()),
        (Some(8), Some("rule[0].timeout"), Some("error"))
    );
    w.cmd().args(["check", "-q"]).run().code(10).stdout_has("rule[0].timeout: invalid duration");
}

/// `[serve]` is checked like the rest: each bad value with its line and column.
#[test]
fn check_finds_every_problem_in_serve() {
    let w = World::new();
    let text = format!(
        "{BASIC_CONFIG}\n[serve]\nlisten = \"localhost\"\nbase_path = \"no-slash\"\nworkers = 0\n\
         token_env = \"not a name\"\nscan_every = \"0s\"\nshutdown_grace = \"soon\"\n"
    );
    w.config(&text);
    let out = w.cmd().arg("check").run().code(10).stdout();
    let config = w.config_path();
    for (line, col, field) in [
        (10, 10, "serve.listen: \"localhost\" is not an address and port"),
        (11, 13, "serve.base_path: \"no-slash\" is not a URL path"),
        (12, 11, "serve.workers: between 1 and 256"),
        (13, 13, "serve.token_env: \"not a name\" is not an environment variable name"),
        (14, 14, "serve.scan_every: must be longer than 0s"),
        (15, 18, "serve.shutdown_grace: invalid duration"),
    ] {
        let expected = format!("{}:{line}:{col}: {field}", config.display());
        assert!(out.contains(&expected), "{expected}\nin\n{out}");
    }
}
