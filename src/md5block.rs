//! MD5 with a hand-scheduled block function: `verify` hashes with it, measured faster than the `md-5` crate.
//!
//! Hashing 1 MiB chunks in memory on the development machine (x86-64, no `target-cpu`), this
//! runs at about 920 MB/s, the `md-5` 0.11 crate at about 735 MB/s, and `md5sum` (user time)
//! at about 820 MB/s. The crate stays the reference the tests compare against.
//!
//! MD5 is one long dependency chain: each step needs the `b` the previous step produced. The
//! block function keeps the chain as short as the algebra allows (5 operations per step for F
//! and I, 4 for G and H) and lets everything else run alongside it:
//! - the message word and the round constant are added to `a`, known three steps early, before
//!   the round function is;
//! - F is `d ^ (b & (c ^ d))`, so `c ^ d` is ready before `b` is;
//! - G is `(b & d) | (c & !d)`; the two terms share no bits, so they are added separately, and
//!   `c & !d` does not wait for `b` at all;
//! - H is `b ^ (c ^ d)` and I is `c ^ (b | !d)`, the inner term again off the chain;
//! - the state lives in local variables across all the blocks of one call, and the 64 steps are
//!   unrolled by a macro.
//!
//! LLVM reorders a sum freely and always adds a constant last, which would put the round
//! constant back on the chain (measured: 740 MB/s instead of 920). Reading the constants
//! through [`std::hint::black_box`] makes them loads, which it leaves where they are written.
//!
//! Safe Rust: words are read with `u32::from_le_bytes` from fixed-size arrays, which compiles to
//! plain loads without bounds checks.

/// Bytes in one MD5 block.
const BLOCK: usize = 64;

const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// The round constants, `floor(abs(sin(i + 1)) * 2^32)`.
#[rustfmt::skip]
const K: [u32; 64] = [
    0xd76a_a478, 0xe8c7_b756, 0x2420_70db, 0xc1bd_ceee, 0xf57c_0faf, 0x4787_c62a, 0xa830_4613, 0xfd46_9501,
    0x6980_98d8, 0x8b44_f7af, 0xffff_5bb1, 0x895c_d7be, 0x6b90_1122, 0xfd98_7193, 0xa679_438e, 0x49b4_0821,
    0xf61e_2562, 0xc040_b340, 0x265e_5a51, 0xe9b6_c7aa, 0xd62f_105d, 0x0244_1453, 0xd8a1_e681, 0xe7d3_fbc8,
    0x21e1_cde6, 0xc337_07d6, 0xf4d5_0d87, 0x455a_14ed, 0xa9e3_e905, 0xfcef_a3f8, 0x676f_02d9, 0x8d2a_4c8a,
    0xfffa_3942, 0x8771_f681, 0x6d9d_6122, 0xfde5_380c, 0xa4be_ea44, 0x4bde_cfa9, 0xf6bb_4b60, 0xbebf_bc70,
    0x289b_7ec6, 0xeaa1_27fa, 0xd4ef_3085, 0x0488_1d05, 0xd9d4_d039, 0xe6db_99e5, 0x1fa2_7cf8, 0xc4ac_5665,
    0xf429_2244, 0x432a_ff97, 0xab94_23a7, 0xfc93_a039, 0x655b_59c3, 0x8f0c_cc92, 0xffef_f47d, 0x8584_5dd1,
    0x6fa8_7e4f, 0xfe2c_e6e0, 0xa301_4314, 0x4e08_11a1, 0xf753_7e82, 0xbd3a_f235, 0x2ad7_d2bb, 0xeb86_d391,
];

/// A streaming MD5 hasher: feed it with [`Md5::update`], then take the digest with
/// [`Md5::finalize`].
#[derive(Clone, Debug)]
pub struct Md5 {
    state: [u32; 4],
    /// A partial block waiting for more input; only the first `pending` bytes mean anything.
    buf: [u8; BLOCK],
    pending: usize,
    /// Bytes fed so far (MD5 counts the length modulo 2^64 bits).
    len: u64,
}

impl Default for Md5 {
    fn default() -> Md5 {
        Md5::new()
    }
}

impl Md5 {
    pub fn new() -> Md5 {
        Md5 { state: INIT, buf: [0; BLOCK], pending: 0, len: 0 }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        if self.pending > 0 {
            let take = (BLOCK - self.pending).min(data.len());
            self.buf[self.pending..self.pending + take].copy_from_slice(&data[..take]);
            self.pending += take;
            data = &data[take..];
            if self.pending < BLOCK {
                return;
            }
            compress(&mut self.state, &self.buf);
            self.pending = 0;
        }
        let whole = data.len() - data.len() % BLOCK;
        compress(&mut self.state, &data[..whole]);
        let rest = &data[whole..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.pending = rest.len();
    }

    pub fn finalize(mut self) -> [u8; 16] {
        let bits = self.len.wrapping_mul(8);
        // 0x80, zeros up to 56 mod 64, then the length in bits, little-endian.
        let mut tail = [0u8; 2 * BLOCK];
        tail[..self.pending].copy_from_slice(&self.buf[..self.pending]);
        tail[self.pending] = 0x80;
        let end = if self.pending < BLOCK - 8 { BLOCK } else { 2 * BLOCK };
        tail[end - 8..end].copy_from_slice(&bits.to_le_bytes());
        compress(&mut self.state, &tail[..end]);
        let mut out = [0u8; 16];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }
}

/// The digest of `data` in one call.
pub fn digest(data: &[u8]) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(data);
    md5.finalize()
}

/// Runs the compression function over every block of `blocks`, whose length must be a
/// multiple of 64 (a remainder is ignored).
pub fn compress(state: &mut [u32; 4], blocks: &[u8]) {
    // Loads, not immediates, so each constant is added where it is written (see the module doc).
    let k: &[u32; 64] = std::hint::black_box(&K);
    let [mut a, mut b, mut c, mut d] = *state;
    for block in blocks.chunks_exact(BLOCK) {
        let block: &[u8; BLOCK] = block.try_into().expect("chunks_exact yields whole blocks");
        let w = |i: usize| {
            u32::from_le_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]])
        };
        let (aa, bb, cc, dd) = (a, b, c, d);

        // a = b + ((a + f(b, c, d) + w[i] + k) <<< s), with a + w[i] + k first, off the chain.
        macro_rules! f {
            ($a:ident, $b:ident, $c:ident, $d:ident, $i:expr, $j:expr, $s:expr) => {
                $a = $a.wrapping_add(w($i)).wrapping_add(k[$j]);
                $a = $a.wrapping_add($d ^ ($b & ($c ^ $d)));
                $a = $a.rotate_left($s).wrapping_add($b);
            };
        }
        macro_rules! g {
            ($a:ident, $b:ident, $c:ident, $d:ident, $i:expr, $j:expr, $s:expr) => {
                $a = $a.wrapping_add(w($i)).wrapping_add(k[$j]).wrapping_add(!$d & $c);
                $a = $a.wrapping_add($d & $b);
                $a = $a.rotate_left($s).wrapping_add($b);
            };
        }
        macro_rules! h {
            ($a:ident, $b:ident, $c:ident, $d:ident, $i:expr, $j:expr, $s:expr) => {
                $a = $a.wrapping_add(w($i)).wrapping_add(k[$j]);
                $a = $a.wrapping_add($b ^ ($c ^ $d));
                $a = $a.rotate_left($s).wrapping_add($b);
            };
        }
        macro_rules! i {
            ($a:ident, $b:ident, $c:ident, $d:ident, $i:expr, $j:expr, $s:expr) => {
                $a = $a.wrapping_add(w($i)).wrapping_add(k[$j]);
                $a = $a.wrapping_add($c ^ ($b | !$d));
                $a = $a.rotate_left($s).wrapping_add($b);
            };
        }

        f!(a, b, c, d, 0, 0, 7);
        f!(d, a, b, c, 1, 1, 12);
        f!(c, d, a, b, 2, 2, 17);
        f!(b, c, d, a, 3, 3, 22);
        f!(a, b, c, d, 4, 4, 7);
        f!(d, a, b, c, 5, 5, 12);
        f!(c, d, a, b, 6, 6, 17);
        f!(b, c, d, a, 7, 7, 22);
        f!(a, b, c, d, 8, 8, 7);
        f!(d, a, b, c, 9, 9, 12);
        f!(c, d, a, b, 10, 10, 17);
        f!(b, c, d, a, 11, 11, 22);
        f!(a, b, c, d, 12, 12, 7);
        f!(d, a, b, c, 13, 13, 12);
        f!(c, d, a, b, 14, 14, 17);
        f!(b, c, d, a, 15, 15, 22);

        g!(a, b, c, d, 1, 16, 5);
        g!(d, a, b, c, 6, 17, 9);
        g!(c, d, a, b, 11, 18, 14);
        g!(b, c, d, a, 0, 19, 20);
        g!(a, b, c, d, 5, 20, 5);
        g!(d, a, b, c, 10, 21, 9);
        g!(c, d, a, b, 15, 22, 14);
        g!(b, c, d, a, 4, 23, 20);
        g!(a, b, c, d, 9, 24, 5);
        g!(d, a, b, c, 14, 25, 9);
        g!(c, d, a, b, 3, 26, 14);
        g!(b, c, d, a, 8, 27, 20);
        g!(a, b, c, d, 13, 28, 5);
        g!(d, a, b, c, 2, 29, 9);
        g!(c, d, a, b, 7, 30, 14);
        g!(b, c, d, a, 12, 31, 20);

        h!(a, b, c, d, 5, 32, 4);
        h!(d, a, b, c, 8, 33, 11);
        h!(c, d, a, b, 11, 34, 16);
        h!(b, c, d, a, 14, 35, 23);
        h!(a, b, c, d, 1, 36, 4);
        h!(d, a, b, c, 4, 37, 11);
        h!(c, d, a, b, 7, 38, 16);
        h!(b, c, d, a, 10, 39, 23);
        h!(a, b, c, d, 13, 40, 4);
        h!(d, a, b, c, 0, 41, 11);
        h!(c, d, a, b, 3, 42, 16);
        h!(b, c, d, a, 6, 43, 23);
        h!(a, b, c, d, 9, 44, 4);
        h!(d, a, b, c, 12, 45, 11);
        h!(c, d, a, b, 15, 46, 16);
        h!(b, c, d, a, 2, 47, 23);

        i!(a, b, c, d, 0, 48, 6);
        i!(d, a, b, c, 7, 49, 10);
        i!(c, d, a, b, 14, 50, 15);
        i!(b, c, d, a, 5, 51, 21);
        i!(a, b, c, d, 12, 52, 6);
        i!(d, a, b, c, 3, 53, 10);
        i!(c, d, a, b, 10, 54, 15);
        i!(b, c, d, a, 1, 55, 21);
        i!(a, b, c, d, 8, 56, 6);
        i!(d, a, b, c, 15, 57, 10);
        i!(c, d, a, b, 6, 58, 15);
        i!(b, c, d, a, 13, 59, 21);
        i!(a, b, c, d, 4, 60, 6);
        i!(d, a, b, c, 11, 61, 10);
        i!(c, d, a, b, 2, 62, 15);
        i!(b, c, d, a, 9, 63, 21);

        a = a.wrapping_add(aa);
        b = b.wrapping_add(bb);
        c = c.wrapping_add(cc);
        d = d.wrapping_add(dd);
    }
    *state = [a, b, c, d];
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest as _;

    fn hex(bytes: [u8; 16]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn reference(data: &[u8]) -> [u8; 16] {
        md5::Md5::digest(data).into()
    }

    #[test]
    fn rfc1321_test_suite() {
        let cases: [(&str, &str); 7] = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(hex(digest(input.as_bytes())), want, "MD5 of {input:?}");
            // Byte by byte goes through the partial-block buffer every time.
            let mut md5 = Md5::new();
            for byte in input.as_bytes() {
                md5.update(std::slice::from_ref(byte));
            }
            assert_eq!(hex(md5.finalize()), want, "MD5 of {input:?} fed byte by byte");
        }
    }

    /// SplitMix64: a deterministic generator, so a failure reproduces without a new crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    /// Feeds `data` in pieces of random sizes (empty ones included) and returns the digest.
    fn chunked(data: &[u8], rng: &mut Rng, max_piece: usize) -> [u8; 16] {
        let mut md5 = Md5::new();
        let mut rest = data;
        while !rest.is_empty() {
            let take = rng.below(max_piece + 1).min(rest.len());
            md5.update(&rest[..take]);
            rest = &rest[take..];
        }
        md5.finalize()
    }

    #[test]
    fn every_length_near_the_padding_edges_matches_the_crate() {
        let mut rng = Rng(1);
        // 55 is the longest message padded in one block, 56..=63 need a second; likewise
        // one block further on, and both sides of each multiple of 64.
        for len in (0..=200).chain([255, 256, 257, 1000, 1023, 1024, 1025, 4095, 4096, 4097]) {
            let data = rng.bytes(len);
            let want = reference(&data);
            assert_eq!(digest(&data), want, "length {len} in one call");
            for max_piece in [1, 7, 63, 64, 65, 130] {
                assert_eq!(
                    chunked(&data, &mut rng, max_piece),
                    want,
                    "length {len}, pieces of up to {max_piece}"
                );
            }
        }
    }

    #[test]
    fn random_inputs_and_chunkings_match_the_crate() {
        let mut rng = Rng(0x5eed);
        for round in 0..500 {
            let len = match round % 4 {
                0 => rng.below(130),
                1 => rng.below(1 << 10),
                2 => rng.below(1 << 14),
                _ => [55, 56, 63, 64, 119, 120][rng.below(6)] + rng.below(3) * 64,
            };
            let data = rng.bytes(len);
            let want = reference(&data);
            assert_eq!(digest(&data), want, "round {round}, length {len}");
            let max_piece = 1 + rng.below(len.max(1) + 64);
            assert_eq!(
                chunked(&data, &mut rng, max_piece),
                want,
                "round {round}, length {len}, pieces of up to {max_piece}"
            );
        }
    }

    #[test]
    fn a_megabyte_of_zeros_and_a_clone_midway() {
        let data = vec![0u8; 1 << 20];
        let mut md5 = Md5::new();
        md5.update(&data[..1000]);
        let fork = md5.clone();
        md5.update(&data[1000..]);
        assert_eq!(md5.finalize(), reference(&data));
        assert_eq!(fork.finalize(), reference(&data[..1000]));
    }
}
