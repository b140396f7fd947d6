//! `--sha256` and `--sha256-file`, and a rule's `.sha256` sidecar in `scan` and in `serve`'s
//! requests: SHA-256 beside MD5. The MD5 is made all the same, from the same pass over the
//! file (the duplicate check, the journal's md5 column and `{md5}` depend on it). The digests
//! the tests expect are the real `sha256sum`'s where it is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::serve::{JOB as SERVE_JOB, Service};
use crate::sidecar_forms::{Case, Kind, Verdict::*, case, check_cases, own};
use crate::support::{Cfg, RECORDING_JOB, World, md5_hex, sha256_hex};

const CONTENT: &[u8] = b"statement data\n";

/// Rule `stmt` for acme's `*.zip`, running `./job.sh {file} {md5}`, and an upload `ACME_1.zip`.
fn world_with_upload() -> (World, PathBuf) {
    let command = r#"["./job.sh", "{file}", "{md5}"]"#;
    let w =
        World::with(&Cfg::default().rule_running("stmt", "acme", "*.zip", command, "").text(), RECORDING_JOB);
    let file = w.upload("ACME_1.zip", CONTENT);
    (w, file)
}

/// What `sha256sum FILE...` prints, run in `dir`: the real tool's lines when it is installed,
/// else the same lines made here. `--tag` among `args` asks for its tagged form.
fn sha256sum(dir: &Path, args: &[&str]) -> String {
    if let Result::Ok(out) = Command::new("sha256sum").args(args).current_dir(dir).env("LC_ALL", "C").output()
        && out.status.success()
    {
        return String::from_utf8(out.stdout).expect("sha256sum prints text");
    }
    let tag = args.contains(&"--tag");
    args.iter()
        .filter(|a| !a.starts_with('-'))
        .map(|name| {
            let hex = sha256_hex(&std::fs::read(dir.join(name)).expect("read"));
            if tag { format!("SHA256 ({name}) = {hex}\n") } else { format!("{hex}  {name}\n") }
        })
        .collect()
}

/// The journal's runs, newest first, as `history --json` shows them.
fn history(w: &World) -> Vec<Value> {
    let run = w.cmd().args(["history", "--json"]).run().code(0);
    run.stdout().lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
}

#[test]
fn the_test_digests_are_sha256sums() {
    let (w, _file) = world_with_upload();
    assert_eq!(sha256sum(&w.root(), &["ACME_1.zip"]), format!("{}  ACME_1.zip\n", sha256_hex(CONTENT)));
    // The SHA-256 of nothing, as FIPS 180-2 gives it.
    assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/// A matching `--sha256` (any case) runs the job; the result carries the SHA-256 pair beside
/// the MD5, whose actual value is there too and reaches the job as `{md5}` and FTPTRIGGER_MD5.
#[test]
fn a_matching_sha256_runs_the_job_and_the_result_has_both_digests() {
    let (w, file) = world_with_upload();
    let sha256 = sha256sum(&w.root(), &["ACME_1.zip"])[..64].to_owned();
    let run =
        w.cmd().arg("--json").arg("acme").arg(&file).args(["--sha256", &sha256.to_uppercase()]).run().code(0);
    let result = run.json();
    assert_eq!(result["outcome"], "success");
    assert_eq!(result["sha256"], json!({"expected": sha256, "actual": sha256}));
    assert_eq!(result["md5"], json!({"expected": null, "actual": md5_hex(CONTENT)}));
    let keys: Vec<&String> = result.as_object().unwrap().keys().collect();
    let md5_at = keys.iter().position(|k| *k == "md5").unwrap();
    assert_eq!(keys[md5_at + 1], "sha256", "sha256 sits beside md5: {keys:?}");

    assert_eq!(w.recorded_argv()[1], md5_hex(CONTENT).as_str());
    assert!(w.recorded("env").contains(&format!("FTPTRIGGER_MD5={}\n", md5_hex(CONTENT))));
    let journaled = &history(&w)[0];
    assert_eq!(journaled["sha256"], result["sha256"]);
    assert_eq!(journaled["md5"], result["md5"]);
}

/// Runs verified by MD5 leave no `sha256` key in the result at all.
#[test]
fn an_md5_run_has_no_sha256_in_its_result() {
    let (w, file) = world_with_upload();
    let result =
        w.cmd().arg("--json").arg("acme").arg(&file).args(["--md5", &md5_hex(CONTENT)]).run().code(0).json();
    assert!(result.get("sha256").is_none(), "{result}");
    assert!(history(&w)[0].get("sha256").is_none());
}

/// The duplicate check goes by the MD5, whichever digest the sender gave: the same bytes under
/// the same name are a duplicate of an earlier MD5 run.
#[test]
fn a_sha256_run_of_what_already_succeeded_is_a_duplicate() {
    let (w, file) = world_with_upload();
    w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(CONTENT)]).run().code(0);
    std::fs::remove_dir_all(w.path("out")).unwrap();
    w.cmd()
        .arg("acme")
        .arg(&file)
        .args(["--sha256", &sha256_hex(CONTENT)])
        .run()
        .code(0)
        .stderr_has(&format!("ACME_1.zip with MD5 {} already succeeded in run 1", md5_hex(CONTENT)));
    assert!(!w.job_ran());
}

#[test]
fn a_sha256_mismatch_exits_12_naming_sha256_and_runs_nothing() {
    let (w, file) = world_with_upload();
    let wrong = "ab".repeat(32);
    let message = format!(
        "ERROR[12]: SHA-256 {wrong} does not match the file's SHA-256 {} after transfer (file ACME_1.zip)",
        sha256_hex(CONTENT)
    );
    w.cmd()
        .arg("acme")
        .arg(&file)
        .args(["--sha256", &wrong])
        .run()
        .code(12)
        .stderr_has(&message)
        .stdout_is("");
    assert!(!w.job_ran());

    let result =
        w.cmd().arg("--json").arg("acme").arg(&file).args(["--sha256", &wrong]).run().code(12).json();
    assert_eq!((result["outcome"].as_str(), result["exit_code"].as_i64()), (Some("md5_mismatch"), Some(12)));
    assert_eq!(result["sha256"], json!({"expected": wrong, "actual": sha256_hex(CONTENT)}));
    assert_eq!(result["md5"]["actual"], md5_hex(CONTENT));
    let journaled = history(&w);
    assert_eq!(journaled.len(), 2);
    assert!(journaled.iter().all(|run| run["outcome"] == "md5_mismatch"));
    assert!(journaled[1]["message"].as_str().unwrap().starts_with(&message), "{}", journaled[1]);
    assert!(!w.job_ran());
}

/// A digest of the wrong length, or not hex, is a usage error on one line naming the flag; a
/// digest of the other algorithm's length says which flag takes it. Nothing is journaled.
#[test]
fn a_digest_of_the_wrong_length_is_a_usage_error_naming_the_flag() {
    let (w, file) = world_with_upload();
    let md5 = md5_hex(CONTENT);
    let sha256 = sha256_hex(CONTENT);
    let cases = [
        (
            "--sha256",
            md5.clone(),
            "--sha256: expected 64 hex digits, got 32 (an MD5 has 32; use --md5)".to_owned(),
        ),
        ("--sha256", sha256[1..].to_owned(), "--sha256: expected 64 hex digits, got 63".to_owned()),
        ("--sha256", format!("{sha256}0"), "--sha256: expected 64 hex digits, got 65".to_owned()),
        ("--sha256", "g".repeat(64), format!("--sha256: expected 64 hex digits, got \"{}\"", "g".repeat(64))),
        (
            "--md5",
            sha256.clone(),
            "--md5: expected 32 hex digits, got 64 (a SHA-256 has 64; use --sha256)".to_owned(),
        ),
    ];
    for (flag, hex, message) in cases {
        w.cmd()
            .arg("acme")
            .arg(&file)
            .args([flag, &hex])
            .run()
            .code(2)
            .stderr_is(&format!("ERROR[2]: {message}\n"));
    }
    assert!(!w.job_ran());
    assert!(w.journal_rows().is_empty(), "a usage error is not journaled");
}

/// Exactly one of `--md5`, `--md5-file`, `--sha256` and `--sha256-file`.
#[test]
fn exactly_one_of_the_four_digest_flags() {
    let (w, file) = world_with_upload();
    let side = w.upload("ACME_1.zip.sha256", sha256sum(&w.root(), &["ACME_1.zip"]).as_bytes());
    let (md5, sha256) = (md5_hex(CONTENT), sha256_hex(CONTENT));
    let side = side.to_str().unwrap();
    let flags = [
        ("--md5", md5.as_str()),
        ("--md5-file", side),
        ("--sha256", sha256.as_str()),
        ("--sha256-file", side),
    ];
    for (i, (one, a)) in flags.iter().enumerate() {
        for (other, b) in &flags[i + 1..] {
            w.cmd()
                .arg("acme")
                .arg(&file)
                .args([one, a, other, b])
                .run()
                .code(2)
                .stderr_has("cannot be used with");
        }
    }
    w.cmd()
        .arg("acme")
        .arg(&file)
        .run()
        .code(2)
        .stderr_has("<--md5 <HEX>|--md5-file <PATH>|--sha256 <HEX>|--sha256-file <PATH>>");
    assert!(!w.job_ran());
    w.cmd().arg("acme").arg(&file).args(["--sha256-file", side]).run().code(0);
}

/// What `sha256sum` writes, plain and `--tag`, verifies the file; a wrong digest, a listing
/// for other files and an MD5 line each end the run as they do for MD5, the message naming
/// SHA-256.
#[test]
fn sha256_sidecars_as_sha256sum_writes_them() {
    let (w, file) = world_with_upload();
    w.upload("ACME_2.zip", b"another statement\n");
    let with_sidecar =
        |side: &Path| w.cmd().arg("acme").arg(&file).arg("--sha256-file").arg(side).arg("--force");

    for args in [&["ACME_1.zip"][..], &["--tag", "ACME_1.zip"], &["ACME_2.zip", "ACME_1.zip"]] {
        let side = w.upload("ACME_1.zip.sha256", sha256sum(&w.root(), args).as_bytes());
        let result = with_sidecar(&side).arg("--json").run().code(0).json();
        assert_eq!(result["sha256"], json!({"expected": sha256_hex(CONTENT), "actual": sha256_hex(CONTENT)}));
        assert_eq!(result["md5"]["actual"], md5_hex(CONTENT));
    }

    let side =
        w.upload("ACME_1.zip.sha256", format!("SHA256 (ACME_1.zip) = {}\n", "0".repeat(64)).as_bytes());
    with_sidecar(&side)
        .run()
        .code(12)
        .stderr_has(&format!("ERROR[12]: SHA-256 {} does not match", "0".repeat(64)));

    let side = w.upload("ACME_1.zip.sha256", sha256sum(&w.root(), &["ACME_2.zip"]).as_bytes());
    with_sidecar(&side).run().code(12).stderr_has(&format!(
        "ERROR[12]: SHA-256 sidecar {} is for ACME_2.zip, not ACME_1.zip",
        side.display()
    ));

    // What md5sum writes is no SHA-256 line: the sender's fault, journaled like any.
    let side = w.upload("ACME_1.zip.sha256", format!("{}  ACME_1.zip\n", md5_hex(CONTENT)).as_bytes());
    let message = format!(
        "ERROR[13]: SHA-256 sidecar {}:1: not a SHA-256 line (expected `<hex>  <name>`, `SHA256 (<name>) = <hex>` \
         or a bare digest; `#` starts a comment)",
        side.display()
    );
    with_sidecar(&side).run().code(13).stderr_has(&message);
    let newest = &history(&w)[0];
    assert_eq!(newest["outcome"], "bad_file");
    assert_eq!(newest["sha256"], json!({"expected": null, "actual": null}));
    assert_eq!(newest["message"], message);
}

/// `--md5-file` still reads an MD5 sidecar, whatever its name: only the flag (or a rule's
/// template) says which digest a sidecar holds.
#[test]
fn the_flag_not_the_name_says_what_a_sidecar_holds() {
    let (w, file) = world_with_upload();
    let side = w.upload("ACME_1.zip.sha256", format!("{}  ACME_1.zip\n", md5_hex(CONTENT)).as_bytes());
    w.cmd().arg("acme").arg(&file).arg("--md5-file").arg(&side).run().code(0);
}

/// The forms of `sidecar_forms.rs`, as a SHA-256 sidecar, against `sha256sum -c --strict`.
const SHA256_CASES: &[Case] = &[
    case("text mode", b"f.zip", b"{h}  f.zip\n", Ok),
    case("binary mode", b"f.zip", b"{h} *f.zip\n", Ok),
    case("capital hex, CRLF", b"f.zip", b"{H}  f.zip\r\n", Ok),
    case("a comment, blank lines, leading blanks", b"f.zip", b"# by a tool\n\n \t{h}  f.zip\n", Ok),
    case("--tag", b"f.zip", b"SHA256 (f.zip) = {h}\n", Ok),
    case("OpenSSL 1", b"f.zip", b"SHA256(f.zip)= {h}\n", Ok),
    case("sha256 -r", b"f.zip", b"{h} f.zip\n", Ok),
    case("escaped", b"a\nb.zip", b"\\{h}  a\\nb.zip\n", Ok),
    case("--tag, escaped", b"a\\b.zip", b"\\SHA256 (a\\\\b.zip) = {h}\n", Ok),
    case("a listing, x/f before f", b"f.zip", b"{o}  x/f.zip\n{o}  g.zip\n{h}  f.zip\n", Ok),
    case("a wrong digest", b"f.zip", b"{z}  f.zip\n", Mismatch),
    case("a wrong digest, --tag", b"f.zip", b"SHA256 (f.zip) = {z}\n", Mismatch),
    case("names a file that is not there", b"f.zip", b"{h}  h.zip\n", Mismatch),
    case("nothing", b"f.zip", b"", Malformed),
    case("an MD5 line", b"f.zip", b"d41d8cd98f00b204e9800998ecf8427e  f.zip\n", Malformed),
    case("an MD5 --tag line", b"f.zip", b"MD5 (f.zip) = d41d8cd98f00b204e9800998ecf8427e\n", Malformed),
    case(
        "63 hex digits",
        b"f.zip",
        b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85  f.zip\n",
        Malformed,
    ),
    case("--tag in lower case", b"f.zip", b"sha256 (f.zip) = {h}\n", Malformed),
    own("bare hex (not GNU's)", b"f.zip", b"{h}\n", Ok, Malformed),
    own("OpenSSL 3 (sha256sum does not read it)", b"f.zip", b"SHA2-256(f.zip)= {h}\n", Ok, Malformed),
    own("sha256sum checks every file listed, ftptrigger the upload", b"f.zip", b"{o}  g.zip\n", Mismatch, Ok),
];

const SHA256: Kind =
    Kind { flag: "--sha256-file", tool: "sha256sum", digest: sha256_hex, named: "SHA-256 sidecar" };

#[test]
fn every_sha256_sidecar_form_gets_the_verdict_sha256sum_gives() {
    check_cases(SHA256_CASES, &SHA256, "SUMS.sha256");
}

// --- scan with a rule's `sidecar = "{filename}.sha256"` -----------------------------------------

/// A rule whose sidecars are `<file>.sha256` (the template's case does not matter).
fn scan_world(template: &str) -> World {
    let w = World::with(&Cfg::stmt(&format!("sidecar = \"{template}\"")).text(), RECORDING_JOB);
    std::fs::write(w.root().join("a.zip"), CONTENT).unwrap();
    w
}

fn scan(w: &World) -> crate::support::Trigger {
    w.cmd().args(["scan", "--settle", "0s"])
}

#[test]
fn scan_processes_a_file_with_its_sha256_sidecar_once() {
    let w = scan_world("{filename}.sha256");
    // Without its sidecar it waits, and says for which kind.
    scan(&w).arg("-v").run().code(0).stdout_has("waiting 1").stderr_has("no SHA-256 sidecar ");
    std::fs::write(w.root().join("a.zip.sha256"), sha256sum(&w.root(), &["a.zip"])).unwrap();
    scan(&w)
        .run()
        .code(0)
        .stdout_has("success acme/a.zip (exit 0)")
        .stdout_has("scanned 1, ran 1, skipped 0");
    assert!(w.job_ran());
    let run = &history(&w)[0];
    assert_eq!(run["sha256"], json!({"expected": sha256_hex(CONTENT), "actual": sha256_hex(CONTENT)}));
    assert_eq!(run["md5"], json!({"expected": null, "actual": md5_hex(CONTENT)}));
    // The sidecar is not an upload of its own, and the pair is done.
    scan(&w).run().code(0).stdout_is("scanned 1, ran 0, skipped 1, waiting 0, failed 0\n");
}

#[test]
fn scan_reports_a_wrong_or_malformed_sha256_sidecar() {
    let w = scan_world("{file}.SHA256");
    std::fs::write(w.root().join("a.zip.SHA256"), format!("{}  a.zip\n", "0".repeat(64))).unwrap();
    std::fs::write(w.root().join("b.zip"), b"b\n").unwrap();
    std::fs::write(w.root().join("b.zip.SHA256"), format!("{}  b.zip\n", md5_hex(b"b\n"))).unwrap();
    scan(&w)
        .run()
        .code(3)
        .stdout_has(&format!(
            "md5_mismatch acme/a.zip (exit 12): ERROR[12]: SHA-256 {} does not match",
            "0".repeat(64)
        ))
        .stdout_has("bad_file acme/b.zip (exit 13): ERROR[13]: SHA-256 sidecar ")
        .stdout_has(":1: not a SHA-256 line")
        .stdout_has("scanned 2, ran 0, skipped 0, waiting 0, failed 2");
    assert!(!w.job_ran());
    // Reported once.
    scan(&w).run().code(0).stdout_has("skipped 2");
}

// --- serve: `sha256` instead of `md5` ----------------------------------------------------------

#[test]
fn serve_takes_sha256_instead_of_md5() {
    let w = World::new();
    w.script("job.sh", SERVE_JOB);
    w.config(&Cfg::stmt("").tail("[serve]").text());
    w.upload("a.zip", b"x");
    let s = Service::start(&w);

    let ok = s.post("/ftpscanner/", &json!({"cid": "acme", "filename": "a.zip", "sha256": sha256_hex(b"x")}));
    assert_eq!(ok.status, 200, "{}", ok.body);
    let body = ok.json();
    assert_eq!(body["outcome"], "success");
    assert_eq!(body["sha256"], json!({"expected": sha256_hex(b"x"), "actual": sha256_hex(b"x")}));
    assert_eq!(body["md5"]["actual"], md5_hex(b"x"));

    w.upload("b.zip", b"y");
    let wrong =
        s.post("/ftpscanner/", &json!({"cid": "acme", "filename": "b.zip", "sha256": sha256_hex(b"x")}));
    assert_eq!(wrong.status, 400);
    assert!(wrong.json()["message"].as_str().unwrap().starts_with("ERROR[12]: SHA-256 "), "{}", wrong.body);

    for (body, validations) in [
        (
            json!({"cid": "acme", "filename": "a.zip", "sha256": md5_hex(b"x")}),
            json!({"sha256": "sha256 must be 64 hex digits"}),
        ),
        (
            json!({"cid": "acme", "filename": "a.zip", "md5": md5_hex(b"x"), "sha256": sha256_hex(b"x")}),
            json!({"sha256": "sha256 must not be given with md5; give one of them"}),
        ),
        (json!({"cid": "acme", "filename": "a.zip"}), json!({"md5": "md5 not present"})),
    ] {
        let reply = s.post("/ftpscanner/", &body);
        assert_eq!(reply.status, 422, "{body}");
        assert_eq!(reply.json()["errors"]["validations"], validations, "{body}");
    }
    assert_eq!(crate::serve::jobs_run(&w), ["a.zip"]);
}
