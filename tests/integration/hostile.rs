//! File names are chosen by customers. Whatever bytes they hold, the job gets them exactly, in
//! one argument, with no shell in between; people get them escaped, one name on one line.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::support::{World, md5_hex};

const CONTENT: &[u8] = b"statement data\n";

/// Uploads `name`, runs the basic rule for it and checks that the job's only argument is the
/// canonical path of the upload, byte for byte, and that nothing in the name was executed.
fn reaches_the_job_intact(name: &OsStr) {
    let w = World::new();
    let content = [b"payload of ", name.as_bytes()].concat();
    let file = w.upload(name, &content);
    let run = w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(&content)]).run();
    let context = format!("name {name:?}: stderr {}", run.stderr());
    assert_eq!(run.output.status.code(), Some(0), "{context}");
    let expected = w.root().canonicalize().unwrap().join(name).into_os_string();
    assert_eq!(w.recorded_argv(), [expected], "{context}");
    assert_eq!(find_named(w.dir.path(), "pwned"), None, "{context}");
}

/// The first file called `target` anywhere under `dir`.
fn find_named(dir: &Path, target: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == target {
            return Some(entry.path());
        }
        if entry.file_type().unwrap().is_dir()
            && let Some(found) = find_named(&entry.path(), target)
        {
            return Some(found);
        }
    }
    None
}

#[test]
fn spaces_and_quotes() {
    for name in ["with space.zip", "it's.zip", "say \"hi\".zip", "  padded  .zip"] {
        reaches_the_job_intact(OsStr::new(name));
    }
}

#[test]
fn shell_metacharacters_are_not_interpreted() {
    for name in [
        "$(touch pwned).zip",
        "`touch pwned`.zip",
        "a;touch pwned;.zip",
        "a|touch pwned|.zip",
        "a && touch pwned && .zip",
        "${IFS}*?[a].zip",
    ] {
        reaches_the_job_intact(OsStr::new(name));
    }
}

#[test]
fn newline_and_tab() {
    for name in ["new\nline.zip", "tab\there.zip"] {
        reaches_the_job_intact(OsStr::new(name));
    }
}

#[test]
fn leading_dashes_are_not_options() {
    for name in ["-rf.zip", "--help.zip"] {
        reaches_the_job_intact(OsStr::new(name));
    }
}

#[test]
fn bytes_that_are_not_utf8() {
    reaches_the_job_intact(OsStr::from_bytes(b"bad\xff\xfe.zip"));
}

#[test]
fn messages_escape_control_characters_in_names() {
    let w = World::new();
    let name = OsStr::from_bytes(b"evil\nERROR[0]: ok\x1b[31m.zip");
    let file = w.upload(name, CONTENT);
    let run = w.cmd().arg("nobody").arg(&file).args(["--md5", &md5_hex(CONTENT)]).run().code(11);
    let expected =
        r"ERROR[11]: CID nobody and file name evil\nERROR[0]: ok\x1b[31m.zip are not set up for processing";
    let stderr = run.stderr();
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.contains("ERROR[")).collect();
    assert_eq!(error_lines.len(), 1, "the ERROR line is one line: {stderr:?}");
    assert!(error_lines[0].starts_with(expected), "{stderr:?}");
    assert!(!stderr.contains('\x1b'), "no raw ESC reaches the terminal: {stderr:?}");
    assert!(!w.job_ran());
}

#[test]
fn file_errors_escape_the_path_too() {
    let w = World::new();
    let missing = w.root().join(OsStr::from_bytes(b"gone\n\x1b[2J\xff.zip"));
    let run = w.cmd().arg("acme").arg(&missing).args(["--md5", &md5_hex(CONTENT)]).run().code(13);
    let stderr = run.stderr();
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.contains("ERROR[")).collect();
    assert_eq!(error_lines.len(), 1, "{stderr:?}");
    assert!(error_lines[0].ends_with(r"/gone\n\x1b[2J\xff.zip does not exist"), "{stderr:?}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
}

/// A world whose one rule, for `*.gz`, runs `./job.sh` followed by `args` (TOML array items).
fn world_with_args(args: &str) -> World {
    let w = World::new();
    w.config(&format!(
        r#"
[[rule]]
name = "stmt"
cid = "acme"
pattern = "*.gz"
root = "ftp/acme"
command = ["./job.sh", {args}]
"#
    ));
    w
}

#[test]
fn placeholders_never_split_an_argument() {
    let w = world_with_args(r#""--in={file}", "{filename}", "{stem}", "{ext}", "{dir}""#);
    let name = "a b;c.tar.gz";
    let file = w.upload(name, CONTENT);
    w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(CONTENT)]).run().code(0);
    let root = w.root().canonicalize().unwrap();
    let mut in_arg = OsString::from("--in=");
    in_arg.push(root.join(name));
    let expected: Vec<OsString> =
        vec![in_arg, name.into(), "a b;c.tar".into(), "gz".into(), root.into_os_string()];
    assert_eq!(w.recorded_argv(), expected);
}

#[test]

fn doubled_braces_reach_the_job_as_one_literal_brace() {
    let w = world_with_args(r#""{{literal}}", "{filename}", "}}{{""#);
    let name = "a b;c.tar.gz";
    let file = w.upload(name, CONTENT);
    w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(CONTENT)]).run().code(0);
    let expected: Vec<OsString> = vec!["{literal}".into(), name.into(), "}{".into()];
    assert_eq!(w.recorded_argv(), expected);
}

#[test]
fn the_job_gets_the_facts_in_its_environment() {
    let w = World::new();
    let file = w.upload("ACME_1.zip", CONTENT);
    // Given in upper case; the job always sees lower case.
    w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(CONTENT).to_uppercase()]).run().code(0);
    let env = w.recorded("env");
    let lines: Vec<&str> = env.lines().collect();
    let canonical = w.root().canonicalize().unwrap().join("ACME_1.zip");
    for expected in [
        "FTPTRIGGER_CID=acme".to_owned(),
        "FTPTRIGGER_FILENAME=ACME_1.zip".to_owned(),
        format!("FTPTRIGGER_MD5={}", md5_hex(CONTENT)),
        format!("FTPTRIGGER_SIZE={}", CONTENT.len()),
        "FTPTRIGGER_RULE=stmt".to_owned(),
        format!("FTPTRIGGER_FILE={}", canonical.display()),
    ] {
        assert!(lines.contains(&expected.as_str()), "env lacks {expected:?}:\n{env}");
    }
}
