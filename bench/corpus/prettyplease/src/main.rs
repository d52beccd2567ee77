//! Corpus program "prettyplease": a Rust source formatter built from `syn` (full
//! syntax tree, visitors, fold) and `prettyplease`.
//!
//!     prettyplease [MODULES]     (default 40)
//!
//! Generates MODULES modules of Rust source from templates (structs, enums,
//! traits, generic impls, closures, matches, loops, macros, attributes,
//! literals of every kind; deterministic), appends this program's own
//! source (as a module), and parses it with `syn`. Then it counts nodes with a visitor,
//! renames identifiers with a mutable visitor, rewrites integer literals
//! with a fold, pretty-prints the tree with `prettyplease`, parses the
//! printed text again (same counts, and printing it again gives the same
//! text), and prints the tree through `quote` and parses that back (an
//! equal tree). Prints counts, sizes and FNV-1a hashes.

use proc_macro2::{Ident, Span};
use quote::ToTokens;
use syn::fold::Fold;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const TEMPLATE: &str = r##"
/// A record with a doc comment, generics and a where clause.
#[derive(Clone, Debug, PartialEq)]
pub struct Rec_$N<T, const K: usize>
where
    T: Clone + core::fmt::Debug,
{
    pub id: u64,
    values: [T; K],
    name: &'static str,
    ratio: f64,
}

#[repr(u8)]
pub enum Shape_$N {
    Circle { r: f32 },
    Rect(f32, f32),
    Empty = 7,
}

pub trait Area_$N: Sized {
    const SIDES: u32;
    type Output;
    fn area(&self) -> Self::Output;
    fn scaled(self, by: f32) -> Self where Self: Clone { let _ = by; self }
}

impl Area_$N for Shape_$N {
    const SIDES: u32 = $N;
    type Output = f32;
    fn area(&self) -> f32 {
        match *self {
            Shape_$N::Circle { r } if r > 0.0 => 3.14159 * r * r,
            Shape_$N::Circle { .. } => 0.0,
            Shape_$N::Rect(w, h) => w * h,
            _ => f32::NAN,
        }
    }
}

impl<T: Clone + core::fmt::Debug + Default, const K: usize> Rec_$N<T, K> {
    pub fn new(id: u64) -> Self {
        Self { id: id.wrapping_mul(0x$N_u64 | 1), values: core::array::from_fn(|_| T::default()), name: "rec\t$N \u{e9}", ratio: $N.5e-3 }
    }

    pub async fn fetch(&mut self, key: &str) -> Result<Option<&T>, String> {
        let idx = key.bytes().fold(0usize, |acc, b| acc.rotate_left(5) ^ b as usize) % K.max(1);
        if key.is_empty() { return Err(format!("empty key for {}", self.id)); }
        Ok(self.values.get(idx))
    }
}

pub fn kernel_$N(data: &mut [i64], mask: u32) -> (i64, usize) {
    let mut total = 0i64;
    let mut hits = 0;
    'outer: for (i, x) in data.iter_mut().enumerate().rev() {
        *x = (*x << 3) ^ (i as i64 >> 1) - $N;
        while *x > 1_000_000 {
            *x /= 7;
            if *x % 13 == 0 { continue 'outer; }
        }
        match (i as u32 & mask, *x) {
            (0, v) | (1, v) if v < 0 => total -= v,
            (2..=5, v @ 10..=99) => { hits += 1; total += v * 2 }
            (_, v) => total = total.wrapping_add(v),
        }
        if total > i64::MAX / 4 { break 'outer; }
    }
    let squares: Vec<_> = (0..$N % 17).map(|k| k * k).filter(|k| k % 2 == 0).collect();
    let label = if let Some(&last) = squares.last() { last } else { -1 };
    let bytes = b"bytes\x00$N";
    let raw = r#"raw "quoted" $N"#;
    let _ = (bytes, raw, 'c', '\'', 1e10, 0b1010_u8, 0o17, !0u16, &&label, [0u8; 4], ..=$N, ..);
    unsafe { core::hint::unreachable_unchecked_if(false) };
    (total + label, hits)
}

macro_rules! twice_$N {
    ($e:expr) => { ($e) * 2 };
    ($($t:tt)*) => { 0 };
}

pub static TABLE_$N: [(&str, u32); 3] = [("a", $N), ("b", twice_$N!($N)), ("c", $N >> 1)];
pub type Pair_$N<'a, T> = (&'a mut T, Box<dyn Fn(T) -> T + Send + 'a>);
extern "C" { fn ext_$N(x: i32, ...) -> i32; }
union Bits_$N { f: f32, u: u32 }
"##;

fn generate(modules: usize) -> String {
    let mut src = String::new();
    for m in 0..modules {
        let n = (m * 7919 + 13) % 100_000;
        src.push_str(&format!("pub mod m{m} {{\n"));
        src.push_str(&TEMPLATE.replace("$N", &n.to_string()));
        src.push_str("}\n");
    }
    // Inner doc comments (`//!`) may only open a module: wrap it in one.
    src.push_str("pub mod this_program {\n");
    src.push_str(include_str!("main.rs"));
    src.push_str("}\n");
    src
}

#[derive(Default)]
struct Counter {
    items: u64,
    fns: u64,
    exprs: u64,
    idents: u64,
    ident_bytes: u64,
    lit_int_sum: u64,
    patterns: u64,
    types: u64,
}

impl<'ast> Visit<'ast> for Counter {
    fn visit_item(&mut self, i: &'ast syn::Item) {
        self.items += 1;
        syn::visit::visit_item(self, i);
    }
    fn visit_signature(&mut self, i: &'ast syn::Signature) {
        self.fns += 1;
        syn::visit::visit_signature(self, i);
    }
    fn visit_expr(&mut self, i: &'ast syn::Expr) {
        self.exprs += 1;
        syn::visit::visit_expr(self, i);
    }
    fn visit_ident(&mut self, i: &'ast Ident) {
        self.idents += 1;
        self.ident_bytes += i.to_string().len() as u64;
    }
    fn visit_lit_int(&mut self, i: &'ast syn::LitInt) {
        if let Ok(v) = i.base10_parse::<u64>() {
            self.lit_int_sum = self.lit_int_sum.wrapping_add(v);
        }
    }
    fn visit_pat(&mut self, i: &'ast syn::Pat) {
        self.patterns += 1;
        syn::visit::visit_pat(self, i);
    }
    fn visit_type(&mut self, i: &'ast syn::Type) {
        self.types += 1;
        syn::visit::visit_type(self, i);
    }
}

fn count(file: &syn::File) -> Counter {
    let mut c = Counter::default();
    c.visit_file(file);
    c
}

fn print_counts(label: &str, c: &Counter) {
    println!(
        "{label}: {} items, {} fns, {} exprs, {} patterns, {} types, {} idents ({} bytes), int sum {}",
        c.items, c.fns, c.exprs, c.patterns, c.types, c.idents, c.ident_bytes, c.lit_int_sum
    );
}

/// Renames every identifier that starts with `Rec` or `kernel`.
struct Rename(u64);

impl VisitMut for Rename {
    fn visit_ident_mut(&mut self, i: &mut Ident) {
        let s = i.to_string();
        if s.starts_with("Rec") || s.starts_with("kernel") {
            *i = Ident::new(&format!("{s}_renamed"), i.span());
            self.0 += 1;
        }
    }
}

/// Adds 1 to every unsuffixed integer literal.
struct Bump(u64);

impl Fold for Bump {
    fn fold_lit_int(&mut self, i: syn::LitInt) -> syn::LitInt {
        match i.base10_parse::<u64>() {
            Ok(v) if i.suffix().is_empty() && v < u64::MAX => {
                self.0 += 1;
                syn::LitInt::new(&(v + 1).to_string(), Span::call_site())
            }
            _ => i,
        }
    }
}

fn main() {
    let modules: usize = match std::env::args().nth(1) {
        None => 40,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("usage: prettyplease [MODULES]");
            std::process::exit(2)
        }),
    };
    let src = generate(modules);
    println!(
        "prettyplease: {modules} modules, {} bytes, {} lines, fnv {:016x}",
        src.len(),
        src.lines().count(),
        fnv1a(src.as_bytes())
    );
    let file = syn::parse_file(&src).unwrap_or_else(|e| {
        eprintln!("parse: {e}");
        std::process::exit(1)
    });
    print_counts("parsed", &count(&file));

    let printed = prettyplease::unparse(&file);
    println!(
        "printed: {} bytes, {} lines, fnv {:016x}",
        printed.len(),
        printed.lines().count(),
        fnv1a(printed.as_bytes())
    );
    let reparsed = syn::parse_file(&printed).expect("reparse printed");
    // Not `reparsed == file`: the printer adds trailing commas (where
    // clauses, struct literals) that the tree records; the counts agree.
    print_counts("reparsed", &count(&reparsed));
    let printed_again = prettyplease::unparse(&reparsed);
    println!("print idempotent: {}", printed_again == printed);

    let mut renamed = file.clone();
    let mut rename = Rename(0);
    rename.visit_file_mut(&mut renamed);
    let mut bump = Bump(0);
    let bumped = bump.fold_file(renamed);
    println!(
        "rewrites: {} identifiers renamed, {} literals bumped",
        rename.0, bump.0
    );
    print_counts("rewritten", &count(&bumped));
    let rewritten = prettyplease::unparse(&bumped);
    println!(
        "rewritten printed: {} bytes, fnv {:016x}, differs {}",
        rewritten.len(),
        fnv1a(rewritten.as_bytes()),
        bumped != file
    );

    let tokens = file.to_token_stream().to_string();
    println!(
        "tokens: {} bytes, fnv {:016x}",
        tokens.len(),
        fnv1a(tokens.as_bytes())
    );
    let from_tokens: syn::File = syn::parse_str(&tokens).expect("parse tokens");
    println!("token round trip equal: {}", from_tokens == file);
}
