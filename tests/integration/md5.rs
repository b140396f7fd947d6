//! `--md5` and `--md5-file`: what happens when they agree with the file, when they do not, and
//! when the sidecar itself is at fault. Every sidecar form, against `md5sum -c`, is in
//! `sidecar_forms.rs`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use crate::servers::HttpReceiver;
use crate::support::{Cfg, RECORDING_JOB, World, md5_hex};

const CONTENT: &[u8] = b"statement data\n";

fn world_with_upload() -> (World, std::path::PathBuf) {
    let w = World::new();
    let file = w.upload("ACME_1.zip", CONTENT);
    (w, file)
}

/// A world whose rule tells a webhook about failures.
fn notifying_world(hook: &HttpReceiver) -> World {
    let config = Cfg::stmt("notify = [\"hook\"]")
        .tail(&format!("[channel.hook]\ntype = \"webhook\"\nurl = \"{}\"\n", hook.url()))
        .text();
    World::with(&config, RECORDING_JOB)
}

/// `ftptrigger acme FILE --md5-file SIDECAR`.
fn with_sidecar(w: &World, file: &Path, sidecar: &Path) -> crate::support::Trigger {
    w.cmd().arg("acme").arg(file).arg("--md5-file").arg(sidecar)
}

/// The outcome and message of each run in the journal, oldest first.
fn journaled(w: &World) -> Vec<(String, String)> {
    let run = w.cmd().args(["history", "--json"]).run().code(0);
    let mut rows: Vec<(String, String)> = run
        .stdout()
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            (row["outcome"].as_str().unwrap().to_owned(), row["message"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    rows.reverse();
    rows
}

#[test]
fn matching_md5_runs_the_job_in_any_case() {
    let (w, file) = world_with_upload();
    w.cmd()
        .arg("acme")
        .arg(&file)
        .args(["--md5", &md5_hex(CONTENT).to_uppercase()])
        .run()
        .code(0)
        .stdout_is("job ran for ACME_1.zip\n");
    assert!(w.job_ran());
}

#[test]
fn mismatch_exits_12_and_runs_nothing() {
    let (w, file) = world_with_upload();
    let wrong = "0123456789abcdef0123456789abcdef";
    let message =
        format!("ERROR[12]: MD5 {wrong} does not match the file's MD5 {} after transfer", md5_hex(CONTENT));
    w.cmd().arg("acme").arg(&file).args(["--md5", wrong]).run().code(12).stderr_has(&message).stdout_is("");
    assert!(!w.job_ran());
}

#[test]
fn malformed_md5_is_a_usage_error() {
    let (w, file) = world_with_upload();
    for bad in ["", "abc", &"g".repeat(32), &"a".repeat(33), " 0123456789abcdef0123456789abcdef"] {
        w.cmd().arg("acme").arg(&file).args(["--md5", bad]).run().code(2).stderr_has("--md5");
    }
    assert!(!w.job_ran());
}

#[test]
fn md5_and_md5_file_are_exclusive_and_one_is_required() {
    let (w, file) = world_with_upload();
    let side = w.upload("ACME_1.zip.md5", md5_hex(CONTENT).as_bytes());
    w.cmd()
        .arg("acme")
        .arg(&file)
        .args(["--md5", &md5_hex(CONTENT)])
        .arg("--md5-file")
        .arg(&side)
        .run()
        .code(2);
    w.cmd().arg("acme").arg(&file).run().code(2).stderr_has("--md5");
}

#[test]
fn sidecar_naming_another_file_is_a_mismatch() {
    let (w, file) = world_with_upload();
    let side = w.upload("ACME_1.zip.md5", format!("{}  ACME_2.zip\n", md5_hex(CONTENT)).as_bytes());
    with_sidecar(&w, &file, &side)
        .run()
        .code(12)
        .stderr_has(&format!("ERROR[12]: MD5 sidecar {} is for ACME_2.zip, not ACME_1.zip", side.display()));
    assert!(!w.job_ran());
}

#[test]
fn sidecar_with_the_wrong_digest_is_a_mismatch() {
    let (w, file) = world_with_upload();
    let side = w.upload("ACME_1.zip.md5", format!("MD5 (ACME_1.zip) = {}\n", md5_hex(b"other")).as_bytes());
    with_sidecar(&w, &file, &side).run().code(12).stderr_has("ERROR[12]: MD5");
    assert!(!w.job_ran());
}

/// The sender's listing holds a line `md5sum -c --strict` refuses: the run is `bad_file`, and
/// like every failure it is journaled and the rule's channels hear of it, the sidecar's path
/// and line in the message. It used to be exit 2, unrecorded and untold: a usage error of
/// whoever ran ftptrigger, which the sender's mistake is not.
#[test]
fn a_malformed_sidecar_is_bad_file_journaled_and_notified_with_its_path_and_line() {
    let hook = HttpReceiver::ok();
    let w = notifying_world(&hook);
    let file = w.upload("ACME_1.zip", CONTENT);
    let listing = format!("# MD5SUMS\n{}  ACME_0.zip\nACME_1.zip {}\n", md5_hex(b"0"), md5_hex(CONTENT));
    let side = w.upload("MD5SUMS", listing.as_bytes());
    let message = format!("ERROR[13]: MD5 sidecar {}:3: not an MD5 line", side.display());

    with_sidecar(&w, &file, &side).run().code(13).stderr_has(&message);
    assert!(!w.job_ran());

    let rows = journaled(&w);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "bad_file");
    assert!(rows[0].1.starts_with(&message), "{rows:?}");
    let requests = hook.wait_for(1, Duration::from_secs(5));
    assert_eq!(requests.len(), 1, "one notification");
    let body = requests[0].json();
    assert_eq!((body["outcome"].as_str(), body["exit_code"].as_i64()), (Some("bad_file"), Some(13)));
    assert!(body["message"].as_str().unwrap().starts_with(&message), "{body}");
}

/// A sidecar that is not there, a symlink, a FIFO or over 1 MiB: the sender's fault as well,
/// each exit 13 with a journal row, and the message says which and why.
#[test]
fn an_unreadable_sidecar_is_bad_file_and_journaled() {
    let (w, file) = world_with_upload();
    let elsewhere = w.path("someone-elses.md5");
    std::fs::write(&elsewhere, format!("{}  ACME_1.zip\n", md5_hex(b"secret statement"))).unwrap();
    let link = w.root().join("link.md5");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    let fifo = w.root().join("fifo.md5");
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).expect("mkfifo");
    let mut huge = format!("{}  ACME_1.zip\n", md5_hex(CONTENT)).into_bytes();
    huge.resize((1 << 20) + 1, b'\n');
    let huge = w.upload("huge.md5", &huge);
    let cases = [
        (w.root().join("nope.md5"), "cannot be read: "),
        (link, "cannot be read: a symlink; only a regular file is read as a sidecar"),
        (fifo, "cannot be read: not a regular file"),
        (huge, "cannot be read: too large for an MD5 sidecar (1048577 bytes; the limit is 1 MiB)"),
    ];
    for (side, why) in &cases {
        with_sidecar(&w, &file, side)
            .timeout(Duration::from_secs(10))
            .run()
            .code(13)
            .stderr_has(&format!("ERROR[13]: MD5 sidecar {} {why}", side.display()))
            .stderr_lacks(&md5_hex(b"secret statement"));
    }
    assert!(!w.job_ran());
    let outcomes: Vec<String> = journaled(&w).into_iter().map(|(outcome, _)| outcome).collect();
    assert_eq!(outcomes, ["bad_file"; 4]);
}

/// A customer who can make symlinks (SFTP) could point their sidecar at another file, and have
/// its digests reported as the expected MD5: a sidecar that is a symlink is not read.
#[test]
fn sidecar_that_is_a_symlink_is_not_followed() {
    let (w, file) = world_with_upload();
    let elsewhere = w.path("someone-elses.md5");
    std::fs::write(&elsewhere, format!("{}  a.zip\n", md5_hex(b"secret statement"))).unwrap();
    let link = w.root().join("a.zip.md5");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    with_sidecar(&w, &file, &link)
        .run()
        .code(13)
        .stderr_has("a symlink; only a regular file is read as a sidecar")
        .stderr_lacks(&md5_hex(b"secret statement"));
    assert!(!w.job_ran());
}

#[test]
fn sidecar_that_is_a_fifo_does_not_hang() {
    let (w, file) = world_with_upload();
    let fifo = w.path("side.md5");
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).expect("mkfifo");
    with_sidecar(&w, &file, &fifo)
        .timeout(Duration::from_secs(10))
        .run()
        .code(13)
        .stderr_has("not a regular file");
}

/// `md5sum x/ACME_1.zip ACME_1.zip > MD5SUMS`: the first line is about another file, which
/// happens to share the base name. It used to be taken for the upload's, a false mismatch.
#[test]
fn a_listing_naming_x_slash_f_before_f_checks_f_by_its_own_line() {
    let (w, file) = world_with_upload();
    std::fs::create_dir(w.root().join("x")).unwrap();
    std::fs::write(w.root().join("x/ACME_1.zip"), b"another statement\n").unwrap();
    let listing =
        format!("{}  x/ACME_1.zip\n{}  ACME_1.zip\n", md5_hex(b"another statement\n"), md5_hex(CONTENT));
    let side = w.upload("MD5SUMS", listing.as_bytes());
    with_sidecar(&w, &file, &side).run().code(0);
    assert!(w.job_ran());
}

/// A name with a directory part is the upload's when it leads there from the sidecar's
/// directory; one that leads nowhere (the sender's own path, say) is not about the upload.
#[test]
fn a_name_with_a_directory_part_counts_when_it_leads_to_the_file() {
    let (w, file) = world_with_upload();
    let hex = md5_hex(CONTENT);
    let cases = [
        (w.path("ftp/SUMS"), format!("{hex}  acme/ACME_1.zip\n"), 0),
        (w.root().join("SUMS"), format!("{hex}  ./ACME_1.zip\n"), 0),
        (w.root().join("SUMS"), format!("{hex}  ../acme/ACME_1.zip\n"), 0),
        (w.root().join("SUMS"), format!("MD5 ({}) = {hex}\n", file.display()), 0),
        (w.root().join("SUMS"), format!("{hex}  /home/sender/out/ACME_1.zip\n"), 12),
        (w.path("ftp/SUMS"), format!("{hex}  ./ACME_1.zip\n"), 12),
    ];
    for (side, listing, code) in cases {
        std::fs::write(&side, &listing).unwrap();
        let run = with_sidecar(&w, &file, &side).arg("--force").run();
        assert_eq!(
            run.output.status.code(),
            Some(code),
            "{listing:?} in {}: {}",
            side.display(),
            run.stderr()
        );
    }
}

/// Two lines for the upload with different digests: which is the sender's? Neither is taken;
/// the sidecar is refused, naming both lines. The same digest twice is fine.
#[test]
fn a_listing_naming_the_file_twice_with_different_digests_is_bad_file() {
    let hook = HttpReceiver::ok();
    let w = notifying_world(&hook);
    let file = w.upload("ACME_1.zip", CONTENT);
    let hex = md5_hex(CONTENT);
    let other = md5_hex(b"an earlier upload\n");
    let side = w.upload(
        "MD5SUMS",
        format!("{hex}  ACME_1.zip\n{hex}  ACME_2.zip\n{other} *./ACME_1.zip\n").as_bytes(),
    );
    let message =
        format!("ERROR[13]: MD5 sidecar {}:3: gives ACME_1.zip another MD5 than line 1", side.display());
    with_sidecar(&w, &file, &side).run().code(13).stderr_has(&message);
    assert!(!w.job_ran());
    assert_eq!(journaled(&w)[0].0, "bad_file");
    assert_eq!(hook.wait_for(1, Duration::from_secs(5))[0].json()["outcome"], "bad_file");

    std::fs::write(&side, format!("{hex}  ACME_1.zip\nMD5 (./ACME_1.zip) = {}\n", hex.to_uppercase()))
        .unwrap();
    with_sidecar(&w, &file, &side).run().code(0);
}

/// Two bare digests say nothing of which file each is for: a malformed sidecar, not a
/// mismatch, whichever of them is right.
#[test]
fn two_bare_digests_are_a_malformed_sidecar() {
    let (w, file) = world_with_upload();
    let side = w.upload("ACME_1.zip.md5", format!("{}\n{}\n", md5_hex(CONTENT), md5_hex(b"x")).as_bytes());
    with_sidecar(&w, &file, &side)
        .run()
        .code(13)
        .stderr_has(&format!("MD5 sidecar {}:2: a bare digest beside other lines", side.display()));
    assert!(!w.job_ran());
}

/// A name that is not UTF-8, listed the way `md5sum` writes it (escaped for its backslash), is
/// found by its sidecar line, taken by a regex of `.*`, and reaches the job byte for byte.
#[test]
fn a_name_that_is_not_utf8_is_taken_by_a_regex_and_verified_by_its_sidecar_line() {
    const ANY_CSV: &str = r#"
[[rule]]
name = "any"
cid = "acme"
regex = '(?P<base>.*)\.csv'
root = "ftp/acme"
command = ["./job.sh", "{base}", "{filename}"]
"#;
    let w = World::with(ANY_CSV, RECORDING_JOB);
    let name = OsStr::from_bytes(b"caf\xe9 \\\xff.csv");
    let file = w.upload(name, CONTENT);
    let listing = [b"\\", md5_hex(CONTENT).as_bytes(), b"  caf\xe9 \\\\\xff.csv\n"].concat();
    let side = w.upload("MD5SUMS", &listing);
    with_sidecar(&w, &file, &side).run().code(0);
    let argv = w.recorded_argv();
    assert_eq!(argv[0], OsStr::from_bytes(b"caf\xe9 \\\xff"));
    assert_eq!(argv[1], name);
}
