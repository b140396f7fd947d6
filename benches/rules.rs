//! Rule lookup with 10,000 rules: loading the config for one CID (what a run does), and
//! finding the rule for a name. `cargo bench --bench rules`.

use std::ffi::OsStr;
use std::path::Path;

use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

/// 10,000 glob rules over 500 customers, then the rule the lookups look for.
fn config_text() -> String {
    let mut text = String::from("[defaults]\nduplicates = \"run\"\n");
    for i in 0..10_000 {
        text.push_str(&format!(
            "[[rule]]\nname = \"r{i}\"\ncid = \"c{}\"\npattern = \"F{i}_*.dat\"\nroot = \"acme\"\ncommand = [\"/bin/true\", \"{{file}}\"]\n",
            i % 500
        ));
    }
    text.push_str("[[rule]]\nname = \"target\"\ncid = \"c7\"\npattern = \"*.dat\"\nroot = \"acme\"\ncommand = [\"/bin/true\"]\n");
    text
}

#[divan::bench(sample_count = 20)]
fn parse_every_rule(bencher: Bencher) {
    let text = config_text();
    bencher.bench(|| ftptrigger::config::parse(Path::new("/etc/ftptrigger/bench.cfg"), black_box(&text)));
}

#[divan::bench]
fn find_among_10k(bencher: Bencher) {
    let config =
        ftptrigger::config::parse(Path::new("/etc/ftptrigger/bench.cfg"), &config_text()).expect("valid");
    bencher.bench(|| {
        ftptrigger::rules::find(&config, black_box("c7"), black_box(OsStr::new("X_1.dat")))
            .map(|(r, _)| r.name.len())
    });
}
