//! Corpus program "compress": pure-Rust compressors, each on a round trip
//! over the same generated data.
//!
//!     compress [KILOBYTES]     (default 256)
//!
//! Generates KILOBYTES of mixed data (English-like text, a table of binary
//! records, a run of pseudo-random bytes; a fixed xorshift generator, so
//! the data and the output are deterministic), then compresses and
//! decompresses it with deflate (`flate2` on `miniz_oxide`, levels 1, 6 and
//! 9, raw, zlib and gzip framing), Brotli (`brotli`, qualities 1 and 6),
//! LZ4 (`lz4_flex`, block and frame) and Zstandard (`ruzstd`). Prints each
//! compressed size, its CRC-32 and whether the round trip gave the input
//! back.

use std::io::{Read, Write};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "compression",
    "entropy",
    "dictionary",
    "window",
    "literal",
    "match",
    "distance",
    "Huffman",
    "symbol",
];

fn generate(bytes: usize) -> Vec<u8> {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let mut data = Vec::with_capacity(bytes + 256);
    while data.len() < bytes {
        match rng.below(10) {
            // Text: words drawn with a skew towards the first ones.
            0..=5 => {
                for _ in 0..200 {
                    let i = (rng.below(WORDS.len() as u64) * rng.below(WORDS.len() as u64))
                        / WORDS.len() as u64;
                    data.extend_from_slice(WORDS[i as usize].as_bytes());
                    data.push(if rng.below(12) == 0 { b'\n' } else { b' ' });
                }
            }
            // Records: little-endian fields with small, correlated values.
            6..=8 => {
                let base = rng.below(1 << 20) as u32;
                for k in 0..64u32 {
                    data.extend_from_slice(&(base + k).to_le_bytes());
                    data.extend_from_slice(&(rng.below(256) as u16).to_le_bytes());
                    data.extend_from_slice(&[0, 0, k as u8, 0xff]);
                }
            }
            // Noise.
            _ => {
                for _ in 0..64 {
                    data.extend_from_slice(&rng.next().to_le_bytes());
                }
            }
        }
    }
    data.truncate(bytes);
    data
}

fn report(name: &str, input: &[u8], compressed: &[u8], output: &[u8]) {
    println!(
        "{name}: {} -> {} bytes, crc {:08x}, round trip {}",
        input.len(),
        compressed.len(),
        crc32fast::hash(compressed),
        if output == input { "ok" } else { "MISMATCH" }
    );
}

fn deflate(data: &[u8]) {
    use flate2::read::{DeflateDecoder, GzDecoder, ZlibDecoder};
    use flate2::write::{DeflateEncoder, ZlibEncoder};
    use flate2::{Compression, GzBuilder};
    for level in [1, 6, 9] {
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::new(level));
        enc.write_all(data).expect("deflate");
        let packed = enc.finish().expect("deflate finish");
        let mut out = Vec::new();
        DeflateDecoder::new(&packed[..])
            .read_to_end(&mut out)
            .expect("inflate");
        report(&format!("deflate-{level}"), data, &packed, &out);
    }
    let mut enc = ZlibEncoder::new(Vec::new(), Compression::default());
    // In pieces of odd sizes, to exercise the streaming state machine.
    for chunk in data.chunks(4099) {
        enc.write_all(chunk).expect("zlib");
    }
    let packed = enc.finish().expect("zlib finish");
    let mut out = Vec::new();
    let mut dec = ZlibDecoder::new(&packed[..]);
    let mut buf = [0u8; 1021];
    loop {
        let n = dec.read(&mut buf).expect("zlib read");
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    report("zlib-6", data, &packed, &out);
    let mut enc = GzBuilder::new()
        .filename("corpus.bin")
        .mtime(0)
        .write(Vec::new(), Compression::best());
    enc.write_all(data).expect("gzip");
    let packed = enc.finish().expect("gzip finish");
    let mut out = Vec::new();
    GzDecoder::new(&packed[..])
        .read_to_end(&mut out)
        .expect("gunzip");
    report("gzip-9", data, &packed, &out);
}

fn brotli(data: &[u8]) {
    for quality in [1, 6] {
        let params = brotli::enc::BrotliEncoderParams {
            quality,
            lgwin: 22,
            ..Default::default()
        };
        let mut packed = Vec::new();
        brotli::BrotliCompress(&mut &data[..], &mut packed, &params).expect("brotli");
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &packed[..], &mut out).expect("unbrotli");
        report(&format!("brotli-{quality}"), data, &packed, &out);
    }
}

fn lz4(data: &[u8]) {
    let packed = lz4_flex::compress_prepend_size(data);
    let out = lz4_flex::decompress_size_prepended(&packed).expect("lz4 block");
    report("lz4-block", data, &packed, &out);
    let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
    enc.write_all(data).expect("lz4 frame");
    let packed = enc.finish().expect("lz4 frame finish");
    let mut out = Vec::new();
    lz4_flex::frame::FrameDecoder::new(&packed[..])
        .read_to_end(&mut out)
        .expect("lz4 frame decode");
    report("lz4-frame", data, &packed, &out);
}

fn zstd(data: &[u8]) {
    use ruzstd::encoding::{compress_to_vec, CompressionLevel};
    let packed = compress_to_vec(data, CompressionLevel::Fastest);
    let mut out = Vec::new();
    ruzstd::decoding::StreamingDecoder::new(&packed[..])
        .expect("zstd frame")
        .read_to_end(&mut out)
        .expect("zstd decode");
    report("zstd-fastest", data, &packed, &out);
}

fn main() {
    let kb: usize = match std::env::args().nth(1) {
        None => 256,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("usage: compress [KILOBYTES]");
            std::process::exit(2)
        }),
    };
    let data = generate(kb * 1024);
    println!(
        "compress: {} bytes, crc {:08x}",
        data.len(),
        crc32fast::hash(&data)
    );
    deflate(&data);
    brotli(&data);
    lz4(&data);
    zstd(&data);
}
