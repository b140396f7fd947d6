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
