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
