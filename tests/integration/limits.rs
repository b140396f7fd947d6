//! Resource bounds: what ftptrigger holds on to stays small, whatever it is given.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use crate::support::{BASIC_CONFIG, World, md5_hex};

/// The job prints 200 MB, then reads how much memory its parent (ftptrigger, relaying all of
/// it and keeping the tail) has used at most.
#[test]
fn a_job_printing_200_mb_keeps_ftptrigger_under_32_mib() {
    let w = World::new();
    w.script(
        "job.sh",
        "#!/bin/sh\nhead -c 200000000 /dev/zero\ngrep VmHWM /proc/$PPID/status > \"$(dirname \"$0\")/hwm\"\n",
    );
    let file = w.upload("a.zip", b"x");
    let run = w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(b"x")]).arg("--json").run().code(0);
    let tail = run.json()["process"]["output_tail"].as_str().unwrap_or_default().len();
    assert!(tail <= 64 * 1024, "the tail is bounded: {tail}");
    let hwm = std::fs::read_to_string(w.path("hwm")).expect("the job measured its parent");
    let kib: u64 = hwm.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmHWM: N kB");
    assert!(kib < 32 * 1024, "ftptrigger peaked at {kib} KiB while relaying 200 MB");
}

#[test]
fn a_255_byte_name_and_a_4_kib_path_work() {
    let w = World::new();
    // Directories of 200 bytes each until the path is just under PATH_MAX (4096).
    let mut dir = w.root();
    while dir.as_os_str().len() + 201 + 256 < 4096 {
        dir.push("d".repeat(200));
    }
    std::fs::create_dir_all(&dir).expect("deep directories");
    let name = OsString::from_vec([b"n".repeat(251), b".zip".to_vec()].concat());
    let file = dir.join(&name);
    std::fs::write(&file, b"deep").expect("write");
    assert!(file.as_os_str().len() > 3800, "{}", file.as_os_str().len());
    w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(b"deep")]).run().code(0);
    assert_eq!(w.recorded_argv(), [file.canonicalize().unwrap().into_os_string()]);
}

#[test]
fn a_config_of_10000_rules_loads() {
    let w = World::new();
    let mut text = String::from(BASIC_CONFIG);
    for i in 0..10_000 {
        text.push_str(&format!(
            "[[rule]]\nname = \"r{i}\"\ncid = \"c{}\"\npattern = \"F{i}_*.dat\"\nroot = \"ftp/acme\"\ncommand = [\"./job.sh\", \"{{file}}\"]\n",
            i % 500
        ));
    }
    w.config(&text);
    w.cmd().arg("check").run().code(0).stdout_has("ok: 10001 rules");
    let file = w.upload("a.zip", b"x");
    w.cmd().arg("acme").arg(&file).args(["--md5", &md5_hex(b"x")]).run().code(0);
    assert!(w.job_ran());
}

/// A tmpfs mounted over a directory for as long as it lives (root only).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_owned()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_journal_on_a_full_disk_is_exit_1_and_leaves_no_half_written_row() {
    let w = World::new();
    let Some(_disk) = crate::support::is_root().then(|| SmallDisk::mount(&w.journal_dir(), "1m")).flatten()
    else {
        eprintln!("skipped: mounting a small tmpfs for the journal needs root");
        return;
    };
    let first = w.upload("a.zip", b"a");
    w.cmd().arg("acme").arg(&first).args(["--md5", &md5_hex(b"a")]).run().code(0);
    // Fill the disk under the journal to the last byte.
    let filler = w.journal_dir().join("filler");
    let mut f = std::fs::File::create(&filler).expect("filler");
    let block = vec![0u8; 4096];
    while std::io::Write::write_all(&mut f, &block).is_ok() {}
    while std::io::Write::write_all(&mut f, &[0]).is_ok() {}
    drop(f);
    std::fs::remove_file(w.path("out/argv")).expect("the first run recorded");
    let second = w.upload("b.zip", b"b");
    w.cmd()
        .arg("acme")
        .arg(&second)
        .args(["--md5", &md5_hex(b"b")])
        .run()
        .code(1)
        .stderr_has("ERROR[1]: cannot ")
        .stderr_has("journal");
    assert!(!w.job_ran(), "no job may run unrecorded");
    std::fs::remove_file(&filler).expect("free the disk");
    let db = rusqlite::Connection::open(w.journal_path()).expect("journal");
    let states: Vec<String> = db
        .prepare("SELECT state FROM runs ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("rows");
    assert_eq!(states, ["success"], "the failed write left no row behind");
}
