//! The hashing loop: ftptrigger's MD5 block function against the md-5 crate, and the sha2
//! crate's SHA-256 (SHA-NI where the CPU has it), on 1 MiB chunks as `verify` feeds them.
//! `cargo bench --bench hashing`.

use divan::{Bencher, black_box, counter::BytesCount};
use md5::Digest;

fn main() {
    divan::main();
}

const CHUNK: usize = 1 << 20;

fn chunk() -> Vec<u8> {
    (0..CHUNK).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

#[divan::bench]
fn md5block_1mib(bencher: Bencher) {
    let data = chunk();
    bencher.counter(BytesCount::new(CHUNK)).bench(|| {
        let mut h = ftptrigger::md5block::Md5::new();
        h.update(black_box(&data));
        h.finalize()
    });
}

#[divan::bench]
fn md5_crate_1mib(bencher: Bencher) {
    let data = chunk();
    bencher.counter(BytesCount::new(CHUNK)).bench(|| md5::Md5::digest(black_box(&data)));
}

#[divan::bench]
fn sha256_crate_1mib(bencher: Bencher) {
    let data = chunk();
    bencher.counter(BytesCount::new(CHUNK)).bench(|| {
        use sha2::Digest as _;
        sha2::Sha256::digest(black_box(&data))
    });
}
