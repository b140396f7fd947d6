//! What happens to an upload around its run: the content types a rule accepts (`mime`), the
//! moves and deletes after it (`on_success`, `on_failure`), and abandoned partial uploads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;

use crate::servers::HttpReceiver;
use crate::support::{Cfg, World, is_root, md5_hex, wait_until};

/// Today's `{date}`, as a run expands it (the tests run in the machine's time zone too).
fn today() -> String {
    let out = std::process::Command::new("date").arg("+%Y%m%d").output().expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The files under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if entry.file_type().expect("type").is_dir() {
                walk(&path, base, out);
            } else {
                out.push(path.strip_prefix(base).expect("below").to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The journal's last run, as `history --json` gives it (from SQLite or PostgreSQL alike).
fn last_report(w: &World) -> serde_json::Value {
    let out = w.cmd().args(["history", "--json", "--count", "1"]).run().code(0).stdout();
    serde_json::from_str(out.lines().next().expect("a run")).expect("json")
}

/// A sidecar for `name` holding `content`'s MD5, beside it in the root.
fn sidecar(w: &World, name: &str, content: &[u8]) -> PathBuf {
    w.upload(format!("{name}.md5"), format!("{}  {name}\n", md5_hex(content)).as_bytes())
}

/// The job fails (exit 3) for a file whose content starts with FAIL, and sleeps past the
/// rule's timeout for one that starts with SLOW.
const JUDGING_JOB: &str =
    r#"["sh", "-c", "case $(head -c4 \"$1\") in FAIL) exit 3;; SLOW) sleep 5;; esac", "sh", "{file}"]"#;

/// A zip is a zip, whatever its name: a rule that lists `application/zip` runs it, refuses a
/// text file named `.zip` as `bad_file` naming the type found (journaled, nothing run), and
/// `explain` shows the list. A wrong MD5 is still a mismatch first.
#[test]
fn mime_accepts_the_listed_types_and_refuses_the_rest_naming_what_it_found() {
    let w = World::new();
    w.config(&Cfg::stmt("mime = [\"application/zip\", \"text/plain\"]").text());
    let zip: &[u8] = b"PK\x03\x04\x14\x00\x00\x00\x08\x00rest of a zip";
    let zipped = w.upload("real.zip", zip);
    w.cmd().arg("acme").arg(&zipped).args(["--md5", &md5_hex(zip)]).run().code(0);
    assert!(w.job_ran());

    w.config(&Cfg::stmt("mime = [\"application/zip\"]").text());
    let text = w.upload("fake.zip", b"id,amount\n1,10\n");
    let run =
        w.cmd().arg("acme").arg(&text).args(["--md5", &md5_hex(b"id,amount\n1,10\n")]).arg("--json").run();
    let v = run.code(13).json();
    assert_eq!(v["outcome"], "bad_file");
    let message = v["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("fake.zip is text/plain, which rule stmt does not accept (mime: application/zip)"),
        "{message}"
    );
    assert_eq!(w.journal_rows().last().map(|r| r.state.clone()), Some("bad_file".to_owned()));
    assert_eq!(std::fs::read_to_string(w.path("out/argv")).map(|a| a.contains("fake")).ok(), Some(false));

    // The MD5 comes first: a wrong one is a mismatch, whatever the content.
    w.cmd().arg("acme").arg(&text).args(["--md5", &md5_hex(b"other")]).run().code(12);

    let explained = w.cmd().args(["explain", "acme"]).arg(&text).run().code(0).stdout();
    assert!(explained.contains("its content type must be one of: application/zip"), "{explained}");

    w.config(&Cfg::stmt("mime = [\"zip\"]").text());
    let out = w.cmd().arg("check").run().code(10).stdout();
    assert!(out.contains("rule[0].mime[0]: \"zip\" is not a content type"), "{out}");
}

/// `scan` removes abandoned partial uploads (named as FTP servers name uploads in progress,
/// untouched for `partials_after`) and says so; a fresh one, another name, or a symlink stays;
/// `--dry-run` only says what it would remove.
#[test]
fn scan_removes_abandoned_partial_uploads_and_leaves_fresh_ones() {
    let w = World::new();
    w.config(&Cfg::stmt("").defaults("partials_after = \"1h\"").text());
    let old = |name: &str| {
        let path = w.upload(name, b"half an upl");
        let file = std::fs::File::options().write(true).open(&path).expect("open");
        file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(7200))
            .expect("mtime");
        path
    };
    let abandoned = [old(".pureftpd-upload.5f3a.acme.ACME_1.zip"), old("big.zip.part"), old("x.filepart")];
    let fresh = w.upload("now.zip.part", b"still coming");
    let other = old("notes.txt");
    std::os::unix::fs::symlink(&other, w.root().join("link.part")).expect("symlink");

    let dry = w.cmd().args(["scan", "--dry-run"]).run().code(0).stdout();
    assert_eq!(dry.matches("would remove abandoned partial upload (untouched for 2h").count(), 3, "{dry}");
    assert!(abandoned.iter().all(|p| p.exists()), "a dry run removed something");

    let out = w.cmd().arg("scan").run().code(0).stdout();
    assert!(out.contains("removed abandoned partial upload (untouched for 2h"), "{out}");
    assert!(out.contains(": acme/.pureftpd-upload.5f3a.acme.ACME_1.zip\n"), "{out}");
    assert!(abandoned.iter().all(|p| !p.exists()), "{out}");
    assert!(fresh.exists() && other.exists(), "removed what was not an abandoned partial");
    assert!(w.root().join("link.part").symlink_metadata().is_ok(), "a symlink was removed");
    assert!(!w.job_ran());

    w.config(&Cfg::stmt("").defaults("partials = [\"a{b\"]").text());
    let check = w.cmd().arg("check").run().code(10).stdout();
    assert!(check.contains("defaults.partials[0]: not a glob"), "{check}");
}

/// The layout the README shows: successes go to `done/YYYYMMDD/`, failures to `failed/`, each
/// with the sidecar that verified it. A name already taken there gets `.1`, never a
/// replacement; the journal row, `--json` and `history` say where each file went; a re-upload of
/// a file already processed is still known as a duplicate after the move, and stays.
#[test]
fn success_moves_the_file_and_its_sidecar_into_a_dated_directory_and_never_overwrites() {
    let w = World::new();
    let extra = "on_success = { move_to = \"done/{date}\" }\non_failure = { move_to = \"failed\" }";
    w.config(&Cfg::stmt(extra).text());
    let file = w.upload("a b $(x).zip", b"first");
    let side = sidecar(&w, "a b $(x).zip", b"first");
    let v = w.cmd().arg("acme").arg(&file).arg("--md5-file").arg(&side).arg("--json").run().code(0).json();
    let done = w.root().join("done").join(today());
    let moved = done.join("a b $(x).zip");
    assert_eq!(v["moved_to"], moved.to_string_lossy().as_ref());
    assert!(v["message"].as_str().unwrap_or_default().contains("; moved to "), "{v}");
    assert_eq!(std::fs::read(&moved).ok().as_deref(), Some(&b"first"[..]));
    assert!(done.join("a b $(x).zip.md5").exists(), "the sidecar stayed behind");
    assert!(!file.exists() && !side.exists());
    assert_eq!(last_report(&w)["moved_to"], v["moved_to"]);
    // The job saw the file where it landed.
    assert_eq!(w.recorded_argv()[0], file.as_os_str());

    // The same bytes again: a duplicate, though the first is in done/ now; it stays.
    let again = w.upload("a b $(x).zip", b"first");
    let run = w.cmd().arg("acme").arg(&again).args(["--md5", &md5_hex(b"first"), "--json"]).run();
    let dup = run.code(0).json();
    assert_eq!(dup["outcome"], "duplicate_skipped");
    assert!(dup.get("moved_to").is_none() && again.exists(), "{dup}");

    // A dry run says so too, and moves nothing.
    let dry = w.cmd().arg("acme").arg(&again).args(["--md5", &md5_hex(b"first"), "--dry-run", "--force"]);
    let dry = dry.run().code(0).stdout();
    assert!(dry.contains("after a success, the file and its sidecar are moved to "), "{dry}");
    assert!(again.exists());

    // New bytes under the same name: processed, and moved beside the first as `.1`.
    std::fs::write(&again, b"second").expect("re-upload");
    w.cmd().arg("acme").arg(&again).args(["--md5", &md5_hex(b"second")]).run().code(0);
    assert_eq!(std::fs::read(&moved).ok().as_deref(), Some(&b"first"[..]), "overwritten");
    assert_eq!(std::fs::read(done.join("a b $(x).zip.1")).ok().as_deref(), Some(&b"second"[..]));

    let explained = w.cmd().args(["explain", "acme"]).arg(&again).run().code(0).stdout();
    let says = format!(
        "after a success, the file and its sidecar are moved to {}/done/{{date}}",
        w.root().display()
    );
    assert!(explained.contains(&says), "{explained}");
    assert!(explained.contains("sidecar are moved to ") && explained.contains("/failed\n"), "{explained}");

    let history = w.cmd().arg("history").run().code(0).stdout();
    assert!(history.contains(&format!("a b $(x).zip → done/{}/a b $(x).zip.1", today())), "{history}");
}

/// `on_failure` acts after a mismatch (12), a refused content type (13), a failed job (14)
/// and a timeout (15); never after `not_configured` (11), `busy` (16), or another `bad_file`
/// (here: a sidecar that cannot be read).
#[test]
fn on_failure_acts_on_12_content_13_14_15_and_never_on_11_16_or_another_13() {
    let w = World::new();
    let hook = HttpReceiver::ok();
    let rule = "mime = [\"application/zip\", \"text/plain\"]\ntimeout = \"1s\"\nkill_grace = \"1s\"\n\
                on_failure = { move_to = \"failed/{cid}\" }\nnotify = [\"hook\"]";
    let cfg = Cfg::default()
        .rule_running("stmt", "acme", "*.zip", JUDGING_JOB, rule)
        .tail(&crate::notify::webhook("hook", &hook.url(), ""));
    w.config(&cfg.text());
    let failed = w.root().join("failed/acme");
    let run = |name: &str, content: &[u8], md5: &str| {
        let path = w.upload(name, content);
        let v = w.cmd().arg("acme").arg(&path).args(["--md5", md5, "--json"]).run().json();
        (path, v)
    };
    for (name, content, md5, outcome) in [
        ("mismatch.zip", &b"bytes"[..], md5_hex(b"other"), "md5_mismatch"),
        ("failing.zip", b"FAIL now", md5_hex(b"FAIL now"), "process_failed"),
        ("slow.zip", b"SLOW down", md5_hex(b"SLOW down"), "timed_out"),
        (
            "image.zip",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
            md5_hex(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            "bad_file",
        ),
    ] {
        let (path, v) = run(name, content, &md5);
        assert_eq!(v["outcome"], outcome, "{v}");
        assert_eq!(v["moved_to"], failed.join(name).to_string_lossy().as_ref(), "{v}");
        assert!(!path.exists() && failed.join(name).exists(), "{name} was not moved");
    }
    // The notifications say where each file went.
    let told: Vec<String> =
        hook.wait_for(4, Duration::from_secs(10)).iter().map(|r| r.json()["moved_to"].to_string()).collect();
    assert!(told.iter().all(|m| m.contains("/failed/acme/")), "{told:?}");

    // 11: no rule for this name; it stays.
    let (path, v) = run("notes.txt", b"n", &md5_hex(b"n"));
    assert_eq!((v["outcome"].as_str(), path.exists()), (Some("not_configured"), true), "{v}");
    // Another 13: a sidecar that is a directory; the file stays.
    let kept = w.upload("kept.zip", b"k");
    std::fs::create_dir(w.root().join("kept.zip.md5")).expect("dir");
    let v = w.cmd().arg("acme").arg(&kept).arg("--md5-file").arg(w.root().join("kept.zip.md5")).arg("--json");
    let v = v.run().code(13).json();
    assert!(v.get("moved_to").is_none() && kept.exists(), "{v}");

    // 16: another run holds the lock; the file stays for that run.
    w.config(
        &Cfg::default()
            .rule_running(
                "stmt",
                "acme",
                "*.zip",
                r#"["sh", "-c", "touch started; while [ ! -e gate ]; do sleep 0.05; done"]"#,
                "on_failure = { move_to = \"failed\" }\non_success = { move_to = \"done\" }",
            )
            .text(),
    );
    let held = w.upload("held.zip", b"h");
    let holder = w.cmd().arg("acme").arg(&held).args(["--md5", &md5_hex(b"h")]).spawn();
    wait_until(Duration::from_secs(10), "the first run's job started", || w.path("started").exists());
    let v = w.cmd().arg("acme").arg(&held).args(["--md5", &md5_hex(b"h"), "--no-wait", "--json"]).run();
    let v = v.code(16).json();
    assert!(v.get("moved_to").is_none() && held.exists(), "{v}");
    std::fs::write(w.path("gate"), b"").expect("gate");
    holder.wait().code(0);
    assert!(w.root().join("done/held.zip").exists(), "the holder's success did not move it");
}

/// `delete = true` removes the file and its own sidecar; a listing that also speaks of other
/// files is theirs too, so it stays (and moves do not take it either).
#[test]
fn delete_removes_the_file_and_its_own_sidecar_but_a_shared_listing_stays() {
    let w = World::new();
    w.config(&Cfg::stmt("on_success = { delete = true }").text());
    let file = w.upload("a.zip", b"a");
    let side = sidecar(&w, "a.zip", b"a");
    let out = w.cmd().arg("acme").arg(&file).arg("--md5-file").arg(&side).run().code(0).stderr();
    assert!(out.contains("; deleted"), "{out}");
    assert!(!file.exists() && !side.exists());

    let b = w.upload("b.zip", b"b");
    w.upload("c.zip", b"c");
    let listing =
        w.upload("MD5SUMS", format!("{}  b.zip\n{}  c.zip\n", md5_hex(b"b"), md5_hex(b"c")).as_bytes());
    w.cmd().arg("acme").arg(&b).arg("--md5-file").arg(&listing).run().code(0);
    assert!(!b.exists() && listing.exists(), "the shared listing went with b.zip");
    assert_eq!(files_under(&w.root()), ["MD5SUMS", "c.zip"]);
}

/// Directories root makes for a `move_to` (a `scan` from cron as root) belong to the owner of
/// the directory they are made in, not to root: the customer's tree stays theirs. Needs root.
#[test]
fn directories_root_makes_for_a_move_belong_to_the_customer() {
    use std::os::unix::fs::MetadataExt as _;
    if !is_root() {
        eprintln!("skipped: only root's directories are handed over");
        return;
    }
    let w = World::new();
    w.config(&Cfg::stmt("on_success = { move_to = \"done/{date}\" }").text());
    std::os::unix::fs::chown(w.root(), Some(65534), Some(65533)).expect("chown");
    let file = w.upload("a.zip", b"a");
    w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(b"a")]).run().code(0);
    for dir in [w.root().join("done"), w.root().join("done").join(today())] {
        let meta = std::fs::metadata(&dir).expect("made");
        assert_eq!((meta.uid(), meta.gid()), (65534, 65533), "{}", dir.display());
    }
}

/// A SHA-256 sidecar goes with its file as an MD5 one does.
#[test]
fn a_sha256_sidecar_moves_with_its_file() {
    use sha2::Digest as _;
    let w = World::new();
    w.config(&Cfg::stmt("on_success = { move_to = \"done\" }").text());
    let file = w.upload("s.zip", b"s");
    let listing = format!("{}  s.zip\n", hex::encode(sha2::Sha256::digest(b"s")));
    let side = w.upload("s.zip.sha256", listing.as_bytes());
    w.cmd().arg("acme").arg(&file).arg("--sha256-file").arg(&side).run().code(0);
    assert_eq!(files_under(&w.root()), ["done/s.zip", "done/s.zip.sha256"]);
}

/// `check` refuses a `move_to` that would leave the root, is absolute, is a path placeholder,
/// or asks for both a move and a delete; each with its field.
#[test]
fn check_refuses_a_move_to_that_leaves_the_root() {
    let w = World::new();
    for (action, expected) in [
        ("{ move_to = \"../elsewhere\" }", "rule[0].on_success.move_to: \"../elsewhere\" leaves the root"),
        ("{ move_to = \"done/../../x\" }", "leaves the root"),
        ("{ move_to = \"/srv/done\" }", "\"/srv/done\" is absolute"),
        ("{ move_to = \"{dir}/done\" }", "`{dir}` is a path"),
        ("{ move_to = \".\" }", "is the root itself"),
        ("{ move_to = \"done/{nope}\" }", "unknown placeholder `{nope}`"),
        ("{ move_to = \"done\", delete = true }", "either move_to or delete = true, not both"),
        ("{ moveto = \"done\" }", "unknown field `moveto`"),
    ] {
        w.config(&Cfg::stmt(&format!("on_success = {action}")).text());
        let out = w.cmd().arg("check").run().code(10).stdout();
        assert!(out.contains(expected), "{action}: {out}");
    }
    w.config(&Cfg::stmt("on_success = { move_to = \"done/{date}/{cid}\" }\non_failure = {}").text());
    w.cmd().arg("check").run().code(0);
}

/// A `move_to` directory that is a symlink (to outside the root) is not followed: the file
/// stays, the run's outcome stands, and the message says why.
#[test]
fn a_move_to_through_a_symlink_leaves_the_file_in_place() {
    let w = World::new();
    w.config(&Cfg::stmt("on_success = { move_to = \"done/today\" }").text());
    let outside = w.path("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::create_dir_all(w.root().join("done")).expect("done");
    std::os::unix::fs::symlink(&outside, w.root().join("done/today")).expect("symlink");
    let file = w.upload("a.zip", b"a");
    let v = w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(b"a"), "--json"]).run().code(0).json();
    let message = v["message"].as_str().unwrap_or_default();
    assert!(message.contains("left in place: move_to") && message.contains("symlink"), "{message}");
    assert!(file.exists() && std::fs::read_dir(&outside).expect("outside").next().is_none());
}

/// The upload's directory swapped for a symlink to somewhere else while the job ran (the job
/// does it here; a customer with SFTP could): the move does not follow the path, so nothing
/// outside the root is moved, and the verified file is not taken from where it went either.
#[test]
fn a_directory_swapped_while_the_job_ran_cannot_redirect_the_move() {
    let w = World::new();
    let swap = r#"["sh", "-c", "mv ftp/acme/in ftp/acme/in.old && ln -s ../../outside ftp/acme/in"]"#;
    let rule = "on_success = { move_to = \"done\" }\non_failure = { move_to = \"done\" }";
    w.config(&Cfg::default().rule_running("stmt", "acme", "*.zip", swap, rule).text());
    std::fs::create_dir_all(w.path("outside")).expect("outside");
    std::fs::write(w.path("outside/a.zip"), b"not the customer's").expect("outside file");
    std::fs::create_dir_all(w.root().join("in")).expect("in");
    let file = w.upload("in/a.zip", b"a");
    let v = w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(b"a"), "--json"]).run().code(0).json();
    let message = v["message"].as_str().unwrap_or_default();
    assert!(message.contains("left in place: it was replaced by another file"), "{message}");
    assert_eq!(std::fs::read(w.path("outside/a.zip")).ok().as_deref(), Some(&b"not the customer's"[..]));
    assert_eq!(std::fs::read(w.root().join("in.old/a.zip")).ok().as_deref(), Some(&b"a"[..]));
    assert!(!w.root().join("done").exists(), "something was moved");
}

/// A tmpfs of `size` mounted at `dir` (created), unmounted when dropped; `None`, saying why,
/// when not root or where root may not mount one.
fn tmpfs(dir: &Path, size: &str) -> Option<Unmount> {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return None;
    }
    std::fs::create_dir_all(dir).expect("mount point");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: this machine does not let root mount a tmpfs");
        return None;
    }
    Some(Unmount(dir.to_owned()))
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A move onto a filesystem too full for the copy leaves the file where it was, whole, and no
/// partial copy behind; the run's outcome stands and the message says why. Needs root.
#[test]
fn a_move_onto_a_full_filesystem_leaves_the_file_and_no_partial_copy() {
    let w = World::new();
    w.config(&Cfg::stmt("on_success = { move_to = \"done\" }").text());
    let done = w.root().join("done");
    let Some(_unmount) = tmpfs(&done, "1m") else { return };
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let file = w.upload("big.zip", &content);
    let v = w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(&content), "--json"]).run().code(0).json();
    let message = v["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("left in place: cannot write a copy in") && message.contains("No space left"),
        "{message}"
    );
    assert!(v.get("moved_to").is_none(), "{v}");
    assert_eq!(std::fs::read(&file).expect("still there"), content);
    assert!(std::fs::read_dir(&done).expect("done").next().is_none(), "a partial copy was left");
}

/// A `move_to` on another filesystem (a tmpfs mounted inside the root) is a copy, synced, then
/// the original removed: same bytes, mode and mtime, nothing left behind. Needs root to mount.
#[test]
fn a_move_across_filesystems_copies_syncs_and_removes_the_original() {
    let w = World::new();
    w.config(&Cfg::stmt("on_success = { move_to = \"done\" }").text());
    let done = w.root().join("done");
    let Some(_unmount) = tmpfs(&done, "16m") else { return };
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let file = w.upload("big.zip", &content);
    let old = std::time::SystemTime::now() - Duration::from_secs(86_400);
    std::fs::File::options().write(true).open(&file).and_then(|f| f.set_modified(old)).expect("mtime");
    std::fs::write(done.join("big.zip"), b"already here").expect("clash");
    // The upload is the customer's (uid and gid 65534 here); root's copy must stay theirs.
    std::os::unix::fs::chown(&file, Some(65534), Some(65534)).expect("chown");
    let v = w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(&content), "--json"]).run().code(0).json();
    assert_eq!(v["moved_to"], done.join("big.zip.1").to_string_lossy().as_ref(), "{v}");
    assert!(!file.exists(), "the original stayed");
    assert_eq!(std::fs::read(done.join("big.zip.1")).expect("copy"), content);
    assert_eq!(std::fs::read(done.join("big.zip")).expect("kept"), b"already here");
    let copied = std::fs::metadata(done.join("big.zip.1")).expect("meta");
    assert_eq!(copied.modified().ok(), Some(old));
    use std::os::unix::fs::MetadataExt as _;
    assert_eq!((copied.uid(), copied.gid()), (65534, 65534), "root's copy is root's");
    assert_eq!(files_under(&done), ["big.zip", "big.zip.1"], "a temporary copy was left");
}

/// One step of the property below.
#[derive(Debug, Clone)]
enum Step {
    /// The customer uploads `content` as file `name` (replacing what is there).
    Upload { name: usize, content: u8 },
    /// A run for file `name`, with its true MD5 or a wrong one.
    Run { name: usize, good_md5: bool },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (0..2usize, 0..6u8).prop_map(|(name, content)| Step::Upload { name, content }),
        1 => (0..2usize, prop::bool::weighted(0.85)).prop_map(|(name, good_md5)| Step::Run { name, good_md5 }),
    ]
}

/// The content of upload `n`: some of them make the job fail.
fn content(n: u8) -> Vec<u8> {
    if n % 3 == 2 { format!("FAIL {n}").into_bytes() } else { format!("data {n}").into_bytes() }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the order of uploads, re-uploads, successes, failures and duplicates, with
    /// moves on success and on failure: no file is ever lost or overwritten. Every upload that
    /// the customer did not replace themselves is under the root exactly once at the end.
    #[test]
    fn moves_never_lose_or_overwrite_a_file(steps in prop::collection::vec(step(), 4..24)) {
        let w = World::new();
        let rule = "on_success = { move_to = \"done\" }\non_failure = { move_to = \"failed\" }";
        w.config(&Cfg::default().rule_running("stmt", "acme", "*.zip", JUDGING_JOB, rule).text());
        let names = ["a.zip", "b b.zip"];
        // What each name in the upload directory holds, as the customer left it.
        let mut incoming: [Option<Vec<u8>>; 2] = [None, None];
        // Every upload that was not replaced by the customer's next upload of its name.
        let mut expected: Vec<Vec<u8>> = Vec::new();
        for step in &steps {
            match *step {
                Step::Upload { name, content: n } => {
                    if let Some(old) = incoming[name].take() {
                        let at = expected.iter().position(|e| *e == old).expect("tracked");
                        expected.remove(at);
                    }
                    let bytes = content(n);
                    w.upload(names[name], &bytes);
                    expected.push(bytes.clone());
                    incoming[name] = Some(bytes);
                }
                Step::Run { name, good_md5 } => {
                    let path = w.root().join(names[name]);
                    let md5 = match (&incoming[name], good_md5) {
                        (Some(bytes), true) => md5_hex(bytes),
                        _ => md5_hex(b"not it"),
                    };
                    let v = w.cmd().arg("acme").arg(&path).args(["--md5", &md5, "--json"]).run().json();
                    if v.get("moved_to").is_some() {
                        incoming[name] = None;
                    }
                    prop_assert_eq!(path.exists(), incoming[name].is_some(), "{}", v);
                }
            }
        }
        let mut found: Vec<Vec<u8>> = files_under(&w.root())
            .iter()
            .map(|rel| std::fs::read(w.root().join(rel)).expect("read"))
            .collect();
        found.sort();
        expected.sort();
        prop_assert_eq!(found, expected);
    }
}

/// The README's layout, driven by `scan`: uploads in `incoming/`, processed files moved to
/// `done/YYYYMMDD/` and failures to `failed/`, with their sidecars. The next scan walks the
/// whole root (`recursive`) but leaves what the rule moved alone: nothing is hashed or run
/// again.
#[test]
fn scan_processes_incoming_and_leaves_what_it_moved_alone() {
    let w = World::new();
    let rule =
        "recursive = true\non_success = { move_to = \"done/{date}\" }\non_failure = { move_to = \"failed\" }";
    w.config(&Cfg::stmt(rule).text());
    std::fs::create_dir_all(w.root().join("incoming")).expect("incoming");
    w.upload("incoming/good.zip", b"good");
    w.upload("incoming/good.zip.md5", format!("{}  good.zip\n", md5_hex(b"good")).as_bytes());
    w.upload("incoming/bad.zip", b"bad");
    w.upload("incoming/bad.zip.md5", format!("{}  bad.zip\n", md5_hex(b"other")).as_bytes());
    w.cmd().args(["scan", "--settle", "0s"]).run().code(3);
    let done = format!("done/{}", today());
    assert_eq!(
        files_under(&w.root()),
        [
            format!("{done}/good.zip"),
            format!("{done}/good.zip.md5"),
            "failed/bad.zip".into(),
            "failed/bad.zip.md5".into()
        ]
    );
    let out = w.cmd().args(["scan", "--settle", "0s", "--json"]).run().code(0).stdout();
    assert!(!out.contains("good.zip") && !out.contains("bad.zip"), "{out}");
    assert_eq!(w.journal_rows().len(), 2);
}

/// The moves against a PostgreSQL journal (shared by several hosts): the same results, and a
/// moved file is still a duplicate by CID, name and MD5 there.
#[test]
fn lifecycle_on_postgresql() {
    let tests: &[(&str, fn())] = &[
        ("moves", success_moves_the_file_and_its_sidecar_into_a_dated_directory_and_never_overwrites),
        ("on_failure", on_failure_acts_on_12_content_13_14_15_and_never_on_11_16_or_another_13),
    ];
    crate::support::run_on_postgresql(tests);
}
