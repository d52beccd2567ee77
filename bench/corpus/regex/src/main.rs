//! Corpus program "regex": the `regex` crate over a generated text.
//!
//!     regex [KILOBYTES]     (default 64)
//!
//! Generates KILOBYTES of pseudo-random text (words, numbers, dates, e-mail
//! addresses, some non-ASCII words; a fixed xorshift generator, so the text
//! and the output are deterministic), then counts the matches of a set of
//! patterns (literals, alternations, classes, Unicode word boundaries,
//! case-insensitive, captures), rewrites the dates with `replace_all` and
//! splits the text into sentences, printing counts and FNV-1a hashes.

use regex::{Regex, RegexSet};

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

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const WORDS: &[&str] = &[
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "Sherlock",
    "Holmes",
    "Watson",
    "London",
    "Baker",
    "street",
    "evening",
    "murder",
    "letter",
    "window",
    "carriage",
    "inspector",
    "Lestrade",
    "Moriarty",
    "professor",
    "train",
    "station",
    "café",
    "naïve",
    "Zürich",
    "señor",
    "Ærø",
    "straße",
    "Ελλάδα",
    "Москва",
    "東京",
    "data",
    "error",
    "warning",
];

const DOMAINS: &[&str] = &["example.com", "mail.org", "post.co.uk", "wasm.dev"];

fn generate(bytes: usize) -> String {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut text = String::with_capacity(bytes + 64);
    let mut sentence = 0;
    while text.len() < bytes {
        match rng.below(20) {
            0 => {
                let (y, m, d) = (1900 + rng.below(130), 1 + rng.below(12), 1 + rng.below(28));
                text.push_str(&format!("{y:04}-{m:02}-{d:02}"));
            }
            1 => {
                let user = WORDS[rng.below(9) as usize].to_lowercase();
                let n = rng.below(100);
                let domain = DOMAINS[rng.below(DOMAINS.len() as u64) as usize];
                text.push_str(&format!("{user}.{n}@{domain}"));
            }
            2 => text.push_str(&rng.below(1_000_000).to_string()),
            3 => text.push_str(&format!("0x{:x}", rng.next() & 0xffff_ffff)),
            _ => text.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]),
        }
        sentence += 1;
        if sentence > 5 && rng.below(8) == 0 {
            text.push_str(if rng.below(3) == 0 { "!\n" } else { ". " });
            sentence = 0;
        } else if rng.below(10) == 0 {
            text.push_str(", ");
        } else {
            text.push(' ');
        }
    }
    text
}

fn main() {
    let kb: usize = match std::env::args().nth(1) {
        None => 64,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("usage: regex [KILOBYTES]");
            std::process::exit(2)
        }),
    };
    let text = generate(kb * 1024);
    println!(
        "regex: {} bytes, {} chars, fnv {:016x}",
        text.len(),
        text.chars().count(),
        fnv1a(text.as_bytes())
    );

    let patterns = [
        ("literal", r"Sherlock"),
        ("alternation", r"Sherlock|Holmes|Watson|Lestrade|Moriarty"),
        ("case-insensitive", r"(?i)sherlock|holmes"),
        ("word-boundary", r"\b\w+son\b"),
        ("unicode-word", r"\b\p{Greek}+\b|\b\p{Cyrillic}+\b|\p{Han}+"),
        ("email", r"[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}"),
        ("date", r"(\d{4})-(\d{2})-(\d{2})"),
        ("hex", r"0x[0-9a-f]+"),
        ("number", r"\b\d+\b"),
        ("capital-pair", r"[A-Z][a-z]+ [A-Z][a-z]+"),
        ("ends-in-ing", r"\w+ing\b"),
        ("line-end", r"(?m)!$"),
        ("non-ascii-letter", r"[^\x00-\x7F]"),
    ];
    for (name, pattern) in patterns {
        let re = Regex::new(pattern).expect("pattern");
        let mut count = 0u64;
        let mut total = 0u64;
        let mut hash = 0u64;
        for m in re.find_iter(&text) {
            count += 1;
            total += m.len() as u64;
            hash = hash.rotate_left(5) ^ fnv1a(m.as_str().as_bytes());
        }
        println!("{name}: {count} matches, {total} bytes, hash {hash:016x}");
    }

    let date = Regex::new(r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})").expect("date");
    let mut years = [0u64; 13];
    for caps in date.captures_iter(&text) {
        let y: usize = caps["y"].parse().expect("year");
        years[(y - 1900) / 10] += 1;
    }
    println!("decades: {years:?}");
    let rewritten = date.replace_all(&text, "$d/$m/$y");
    println!(
        "replace_all: {} bytes, fnv {:016x}",
        rewritten.len(),
        fnv1a(rewritten.as_bytes())
    );

    let sentences = Regex::new(r"[.!]\s+").expect("split");
    let mut longest = 0;
    let mut n = 0;
    for s in sentences.split(&text) {
        n += 1;
        longest = longest.max(s.len());
    }
    println!("sentences: {n}, longest {longest} bytes");

    let set =
        RegexSet::new([r"murder", r"letter", r"\d{6}", r"Москва", r"@wasm\.dev"]).expect("set");
    let mut hits = [0u64; 5];
    for line in text.lines() {
        for i in set.matches(line).into_iter() {
            hits[i] += 1;
        }
    }
    println!("set: {} lines, hits {hits:?}", text.lines().count());
}
