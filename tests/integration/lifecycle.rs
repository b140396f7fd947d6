//! What happens to an upload around its run: the content types a rule accepts (`mime`).

use crate::support::{Cfg, World, md5_hex};

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
