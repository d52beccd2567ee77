//! Corpus program "js": Boa (`boa_engine`), a JavaScript engine written in
//! Rust, running an embedded script.
//!
//!     js [N]     (default 2)
//!
//! Evaluates `workload.js` with `N` bound to the argument: a task
//! scheduler over classes and a binary heap, string processing with
//! regular expressions and Maps, a JSON round trip, a sieve on a typed
//! array plus floating-point sums and a BigInt factorial, generators,
//! closures and sorting, exceptions and a Proxy. The script returns its
//! report (counts, sums, FNV-1a hashes; all deterministic), which this
//! program prints.

use boa_engine::{Context, Source};

const WORKLOAD: &str = include_str!("workload.js");

fn main() {
    let n: u32 = match std::env::args().nth(1) {
        None => 2,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("usage: js [N]");
            std::process::exit(2)
        }),
    };
    let mut context = Context::default();
    let source = format!("const N = {n};\n{WORKLOAD}");
    match context.eval(Source::from_bytes(&source)) {
        Ok(value) => match value.as_string() {
            Some(report) => println!("js: N = {n}\n{}", report.to_std_string_escaped()),
            None => {
                eprintln!("js: the script returned {}", value.display());
                std::process::exit(1)
            }
        },
        Err(e) => {
            eprintln!("js: uncaught {e}");
            std::process::exit(1)
        }
    }
}
