//! Corpus program "json": `serde_json` (with `serde` derive) over a
//! generated document.
//!
//!     json [RECORDS]     (default 2000)
//!
//! Builds RECORDS records (nested structs, vectors, optional fields,
//! strings with escapes and non-ASCII text, floats; a fixed xorshift
//! generator, so everything is deterministic), serializes them compact and
//! pretty, parses both back into typed structs and into `serde_json::Value`,
//! checks the round trips are exact, walks the `Value` tree, and prints
//! sizes, counts and FNV-1a hashes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

#[derive(Serialize, Deserialize, PartialEq, Debug)]
enum Status {
    Active,
    Suspended { reason: String, days: u32 },
    Closed(i64),
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Address {
    street: String,
    city: String,
    zip: String,
    geo: (f64, f64),
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Order {
    id: u64,
    items: Vec<String>,
    total: f64,
    paid: bool,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Record {
    id: u64,
    name: String,
    email: Option<String>,
    age: u8,
    balance: f64,
    tags: Vec<String>,
    address: Address,
    orders: Vec<Order>,
    status: Status,
    note: Option<String>,
}

const NAMES: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Dennis",
    "Niklaus",
    "Zoë",
    "José",
    "Søren",
    "Łukasz",
    "Ελένη",
    "Дмитрий",
    "美咲",
];
const CITIES: &[&str] = &[
    "Paris",
    "São Paulo",
    "Zürich",
    "Kraków",
    "Reykjavík",
    "東京",
    "Αθήνα",
];
const TAGS: &[&str] = &[
    "new",
    "vip",
    "\"quoted\"",
    "back\\slash",
    "tab\there",
    "line\nbreak",
    "ok",
];

fn float(rng: &mut Rng, scale: f64) -> f64 {
    (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * scale - scale / 2.0
}

fn record(rng: &mut Rng, id: u64) -> Record {
    let name = format!(
        "{} {}",
        NAMES[rng.below(NAMES.len() as u64) as usize],
        NAMES[rng.below(NAMES.len() as u64) as usize]
    );
    let email = (rng.below(4) != 0).then(|| format!("user{id}@example.com"));
    let tags = (0..rng.below(5))
        .map(|_| TAGS[rng.below(TAGS.len() as u64) as usize].to_string())
        .collect();
    let address = Address {
        street: format!(
            "{} Rue de la Paix \u{2014} apt {}",
            rng.below(200),
            rng.below(50)
        ),
        city: CITIES[rng.below(CITIES.len() as u64) as usize].to_string(),
        zip: format!("{:05}", rng.below(100_000)),
        geo: (float(rng, 180.0), float(rng, 360.0)),
    };
    let orders = (0..rng.below(6))
        .map(|k| Order {
            id: id * 10 + k,
            items: (0..1 + rng.below(4))
                .map(|i| format!("sku-{}-{i}", rng.below(10_000)))
                .collect(),
            total: (rng.below(1_000_000) as f64) / 100.0,
            paid: rng.below(2) == 0,
        })
        .collect();
    let status = match rng.below(3) {
        0 => Status::Active,
        1 => Status::Suspended {
            reason: "unpaid \u{1F4B8}".to_string(),
            days: rng.below(90) as u32,
        },
        _ => Status::Closed(-(rng.below(1 << 40) as i64)),
    };
    Record {
        id,
        name,
        email,
        age: rng.below(100) as u8,
        balance: float(rng, 1e7),
        tags,
        address,
        orders,
        status,
        note: (rng.below(3) == 0)
            .then(|| "control \u{1} and \u{7f} and emoji \u{1F600}".to_string()),
    }
}

#[derive(Default)]
struct Walk {
    nodes: u64,
    objects: u64,
    arrays: u64,
    strings: u64,
    string_bytes: u64,
    numbers: u64,
    max_depth: u64,
    number_sum: f64,
}

fn walk(v: &Value, depth: u64, w: &mut Walk) {
    w.nodes += 1;
    w.max_depth = w.max_depth.max(depth);
    match v {
        Value::Object(map) => {
            w.objects += 1;
            for (k, v) in map {
                w.string_bytes += k.len() as u64;
                walk(v, depth + 1, w);
            }
        }
        Value::Array(items) => {
            w.arrays += 1;
            for v in items {
                walk(v, depth + 1, w);
            }
        }
        Value::String(s) => {
            w.strings += 1;
            w.string_bytes += s.len() as u64;
        }
        Value::Number(n) => {
            w.numbers += 1;
            w.number_sum += n.as_f64().unwrap_or(0.0);
        }
        Value::Bool(_) | Value::Null => {}
    }
}

fn main() {
    let n: u64 = match std::env::args().nth(1) {
        None => 2000,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("usage: json [RECORDS]");
            std::process::exit(2)
        }),
    };
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let records: Vec<Record> = (0..n).map(|id| record(&mut rng, id)).collect();

    let compact = serde_json::to_string(&records).expect("serialize");
    let pretty = serde_json::to_string_pretty(&records).expect("serialize pretty");
    println!("json: {n} records");
    println!(
        "compact: {} bytes, fnv {:016x}",
        compact.len(),
        fnv1a(compact.as_bytes())
    );
    println!(
        "pretty: {} bytes, fnv {:016x}",
        pretty.len(),
        fnv1a(pretty.as_bytes())
    );

    let back: Vec<Record> = serde_json::from_str(&compact).expect("parse compact");
    let back_pretty: Vec<Record> = serde_json::from_str(&pretty).expect("parse pretty");
    println!(
        "typed round trip: {}",
        back == records && back_pretty == records
    );

    let value: Value = serde_json::from_str(&pretty).expect("parse value");
    let mut w = Walk::default();
    walk(&value, 0, &mut w);
    println!(
        "value: {} nodes, {} objects, {} arrays, {} strings ({} bytes), {} numbers, depth {}",
        w.nodes, w.objects, w.arrays, w.strings, w.string_bytes, w.numbers, w.max_depth
    );
    println!("number sum: {:.6e}", w.number_sum);
    // `Value`'s maps are sorted by key, so its text differs from `compact`.
    let again = serde_json::to_string(&value).expect("serialize value");
    let reparsed: Value = serde_json::from_str(&again).expect("parse again");
    println!(
        "value round trip: {}, {} bytes, fnv {:016x}",
        reparsed == value,
        again.len(),
        fnv1a(again.as_bytes())
    );

    let paid: f64 = records
        .iter()
        .flat_map(|r| &r.orders)
        .filter(|o| o.paid)
        .map(|o| o.total)
        .sum();
    let suspended = value
        .as_array()
        .expect("array")
        .iter()
        .filter(|r| r["status"].get("Suspended").is_some())
        .count();
    println!("paid total: {paid:.2}, suspended: {suspended}");
}
