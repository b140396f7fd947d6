//! `--md5` and `--md5-file`: every accepted form, and what happens when they disagree.

use crate::support::{World, md5_hex};

const CONTENT: &[u8] = b"statement data\n";

fn world_with_upload() -> (World, std::path::PathBuf) {
    let w = World::new();
    let file = w.upload("ACME_1.zip", CONTENT);
    (w, file)
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
fn every_sidecar_format_is_accepted() {
    let hex = md5_hex(CONTENT);
    let forms = [
        format!("{hex}\n"),
        hex.to_uppercase(),
        format!("{hex}  ACME_1.zip\n"),
        format!("{hex} *ACME_1.zip\n"),
        format!("{hex}  /some/upload/dir/ACME_1.zip\r\n"),
        format!("MD5 (ACME_1.zip) = {hex}\n"),
        format!("{hex}  other.zip\n{hex}  ACME_1.zip\n"),
    ];
    for form in forms {
        let (w, file) = world_with_upload();
        let side = w.upload("ACME_1.zip.md5", form.as_bytes());
        let run = w.cmd().arg("acme").arg(&file).arg("--md5-file").arg(&side).run();
        assert_eq!(run.output.status.code(), Some(0), "sidecar {form:?}: {}", run.stderr());
        assert!(w.job_ran(), "sidecar {form:?}");
    }
}

#[test]
fn sidecar_naming_another_file_is_a_mismatch() {
    let (w, file) = world_with_upload();
    let side = w.upload("ACME_1.zip.md5", format!("{}  ACME_2.zip\n", md5_hex(CONTENT)).as_bytes());
    w.cmd()
        .arg("acme")
        .arg(&file)
        .arg("--md5-file")
        .arg(&side)
        .run()
        .code(12)
        .stderr_has("is for ACME_2.zip, not ACME_1.zip");
    assert!(!w.job_ran());
}

#[test]
fn sidecar_with_the_wrong_digest_is_a_mismatch() {
    let (w, file) = world_with_upload();
    let side = w.upload("ACME_1.zip.md5", format!("MD5 (ACME_1.zip) = {}\n", md5_hex(b"other")).as_bytes());
    w.cmd().arg("acme").arg(&file).arg("--md5-file").arg(&side).run().code(12).stderr_has("ERROR[12]: MD5");
    assert!(!w.job_ran());
}

#[test]
fn malformed_or_missing_sidecar_is_a_usage_error() {
    let (w, file) = world_with_upload();
    for content in ["", "\n\n", "not an md5", "0123  ACME_1.zip", "\u{0}\u{1}binary"] {
        let side = w.upload("ACME_1.zip.md5", content.as_bytes());
        w.cmd().arg("acme").arg(&file).arg("--md5-file").arg(&side).run().code(2).stderr_has("--md5-file");
    }
    w.cmd()
        .arg("acme")
        .arg(&file)
        .arg("--md5-file")
        .arg(w.path("nope.md5"))
        .run()
        .code(2)
        .stderr_has("nope.md5");
    assert!(!w.job_ran());
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
    w.cmd()
        .arg("acme")
        .arg(&file)
        .arg("--md5-file")
        .arg(&link)
        .run()
        .code(2)
        .stderr_has("a symlink; only a regular file is read as a sidecar")
        .stderr_lacks(&md5_hex(b"secret statement"));
    assert!(!w.job_ran());
}

#[test]
fn sidecar_that_is_a_fifo_does_not_hang() {
    let (w, file) = world_with_upload();
    let fifo = w.path("side.md5");
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).expect("mkfifo");
    w.cmd()
        .arg("acme")
        .arg(&file)
        .arg("--md5-file")
        .arg(&fifo)
        .timeout(std::time::Duration::from_secs(10))
        .run()
        .code(2)
        .stderr_has("not a regular file");
}
