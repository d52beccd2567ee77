//! Differential tests: random (but seeded, so repeatable) integer and float
//! expression trees, compiled and run, against an evaluator in Rust that
//! follows the WebAssembly semantics. Trees mix parameters and constants
//! (boundary values), calls, blocks, ifs and selects, so constant operands,
//! register pressure and spills all get exercised. A failure prints the
//! WAT of the smallest failing function.

use vibewasm_tests::*;

/// The fixed seed, or `VIBEWASM_FUZZ_SEED` to explore other programs.
fn seed(default: u64) -> u64 {
    match std::env::var("VIBEWASM_FUZZ_SEED") {
        Ok(s) => s.parse().expect("VIBEWASM_FUZZ_SEED must be a number"),
        Err(_) => default,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ty {
    I32,
    I64,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::I32 => "i32",
            Ty::I64 => "i64",
        }
    }
}

#[derive(Clone, Debug)]
enum E {
    /// Parameters: 0 and 1 are i32, 2 and 3 are i64.
    Param(usize),
    Const(Ty, i64),
    Bin(&'static str, Ty, Box<E>, Box<E>),
    Un(&'static str, Ty, Box<E>),
    /// A comparison of two `Ty` values, giving an i32.
    Cmp(&'static str, Ty, Box<E>, Box<E>),
    /// `div_s`/`div_u`/`rem_s`/`rem_u` with a divisor forced positive.
    Div(&'static str, Ty, Box<E>, Box<E>),
    Wrap(Box<E>),
    Extend(bool, Box<E>),
    Select(Ty, Box<E>, Box<E>, Box<E>),
    If(Ty, Box<E>, Box<E>, Box<E>),
    Call(Ty, Box<E>),
    Block(Ty, Box<E>),
}

const BINOPS: [&str; 10] = [
    "add", "sub", "mul", "and", "or", "xor", "shl", "shr_s", "shr_u", "rotl",
];
const UNOPS: [&str; 6] = ["clz", "ctz", "popcnt", "eqz", "extend8_s", "extend16_s"];
const CMPS: [&str; 10] = [
    "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u",
];
const DIVS: [&str; 4] = ["div_s", "div_u", "rem_s", "rem_u"];

const CONSTS: [i64; 14] = [
    0,
    1,
    -1,
    2,
    31,
    32,
    63,
    0x7fff_ffff,
    -0x8000_0000,
    0xffff_ffff,
    0x8000_0000,
    i64::MIN,
    i64::MAX,
    0x1234_5678_9abc_def0,
];

fn gen(rng: &mut Rng, ty: Ty, depth: u32) -> E {
    let leaf = depth == 0 || rng.below(5) == 0;
    if leaf {
        return if rng.below(2) == 0 {
            let c = CONSTS[rng.below(CONSTS.len() as u64) as usize];
            E::Const(ty, if ty == Ty::I32 { c as i32 as i64 } else { c })
        } else {
            let base = if ty == Ty::I32 { 0 } else { 2 };
            E::Param(base + rng.below(2) as usize)
        };
    }
    let d = depth - 1;
    let sub = |rng: &mut Rng, t: Ty| Box::new(gen(rng, t, d));
    let other = if ty == Ty::I32 { Ty::I64 } else { Ty::I32 };
    match rng.below(12) {
        0..=3 => {
            let op = BINOPS[rng.below(BINOPS.len() as u64) as usize];
            E::Bin(op, ty, sub(rng, ty), sub(rng, ty))
        }
        4 => {
            let op = UNOPS[rng.below(UNOPS.len() as u64) as usize];
            if op == "eqz" {
                // eqz gives an i32 from either type
                let t = if rng.below(2) == 0 { ty } else { other };
                let e = E::Un(op, t, sub(rng, t));
                return if ty == Ty::I32 {
                    e
                } else {
                    E::Extend(false, Box::new(e))
                };
            }
            E::Un(op, ty, sub(rng, ty))
        }
        5 => {
            let op = CMPS[rng.below(CMPS.len() as u64) as usize];
            let t = if rng.below(2) == 0 { Ty::I32 } else { Ty::I64 };
            let e = E::Cmp(op, t, sub(rng, t), sub(rng, t));
            if ty == Ty::I32 {
                e
            } else {
                E::Extend(true, Box::new(e))
            }
        }
        6 => {
            let op = DIVS[rng.below(DIVS.len() as u64) as usize];
            E::Div(op, ty, sub(rng, ty), sub(rng, ty))
        }
        7 => match ty {
            Ty::I32 => E::Wrap(sub(rng, Ty::I64)),
            Ty::I64 => E::Extend(rng.below(2) == 0, sub(rng, Ty::I32)),
        },
        8 => E::Select(ty, sub(rng, ty), sub(rng, ty), sub(rng, Ty::I32)),
        9 => E::If(ty, sub(rng, Ty::I32), sub(rng, ty), sub(rng, ty)),
        10 => E::Call(ty, sub(rng, ty)),
        _ => E::Block(ty, sub(rng, ty)),
    }
}

fn wat(e: &E) -> String {
    match e {
        E::Param(k) => format!("(local.get {k})"),
        E::Const(t, c) => format!("({}.const {c})", t.name()),
        E::Bin(op, t, a, b) => format!("({}.{op} {} {})", t.name(), wat(a), wat(b)),
        E::Un(op, t, a) => format!("({}.{op} {})", t.name(), wat(a)),
        E::Cmp(op, t, a, b) => format!("({}.{op} {} {})", t.name(), wat(a), wat(b)),
        E::Div(op, t, a, b) => {
            let t = t.name();
            let mask = if t == "i32" {
                "0x7fffffff"
            } else {
                "0x7fffffffffffffff"
            };
            format!(
                "({t}.{op} {} ({t}.or ({t}.and {} ({t}.const {mask})) ({t}.const 1)))",
                wat(a),
                wat(b)
            )
        }
        E::Wrap(a) => format!("(i32.wrap_i64 {})", wat(a)),
        E::Extend(signed, a) => format!(
            "(i64.extend_i32_{} {})",
            if *signed { "s" } else { "u" },
            wat(a)
        ),
        E::Select(_, a, b, c) => format!("(select {} {} {})", wat(a), wat(b), wat(c)),
        E::If(t, c, a, b) => format!(
            "(if (result {}) {} (then {}) (else {}))",
            t.name(),
            wat(c),
            wat(a),
            wat(b)
        ),
        E::Call(t, a) => format!("(call $id_{} {})", t.name(), wat(a)),
        E::Block(t, a) => format!("(block (result {}) {})", t.name(), wat(a)),
    }
}

/// Evaluates with wasm semantics; i32 results are kept sign-extended.
fn eval(e: &E, p: &[i64; 4]) -> i64 {
    let w32 = |v: i64| v as i32 as i64;
    match e {
        E::Param(k) => p[*k],
        E::Const(_, c) => *c,
        E::Bin(op, Ty::I32, a, b) => {
            let (a, b) = (eval(a, p) as i32, eval(b, p) as i32);
            let s = b as u32 & 31;
            w32(match *op {
                "add" => a.wrapping_add(b),
                "sub" => a.wrapping_sub(b),
                "mul" => a.wrapping_mul(b),
                "and" => a & b,
                "or" => a | b,
                "xor" => a ^ b,
                "shl" => a.wrapping_shl(s),
                "shr_s" => a.wrapping_shr(s),
                "shr_u" => (a as u32).wrapping_shr(s) as i32,
                "rotl" => a.rotate_left(s),
                _ => unreachable!(),
            } as i64)
        }
        E::Bin(op, Ty::I64, a, b) => {
            let (a, b) = (eval(a, p), eval(b, p));
            let s = b as u32 & 63;
            match *op {
                "add" => a.wrapping_add(b),
                "sub" => a.wrapping_sub(b),
                "mul" => a.wrapping_mul(b),
                "and" => a & b,
                "or" => a | b,
                "xor" => a ^ b,
                "shl" => a.wrapping_shl(s),
                "shr_s" => a.wrapping_shr(s),
                "shr_u" => (a as u64).wrapping_shr(s) as i64,
                "rotl" => a.rotate_left(s),
                _ => unreachable!(),
            }
        }
        E::Un(op, Ty::I32, a) => {
            let a = eval(a, p) as i32;
            match *op {
                "clz" => a.leading_zeros() as i64,
                "ctz" => a.trailing_zeros() as i64,
                "popcnt" => a.count_ones() as i64,
                "eqz" => (a == 0) as i64,
                "extend8_s" => a as i8 as i64,
                "extend16_s" => a as i16 as i64,
                _ => unreachable!(),
            }
        }
        E::Un(op, Ty::I64, a) => {
            let a = eval(a, p);
            match *op {
                "clz" => a.leading_zeros() as i64,
                "ctz" => a.trailing_zeros() as i64,
                "popcnt" => a.count_ones() as i64,
                "eqz" => (a == 0) as i64,
                "extend8_s" => a as i8 as i64,
                "extend16_s" => a as i16 as i64,
                _ => unreachable!(),
            }
        }
        E::Cmp(op, t, a, b) => {
            let (a, b) = (eval(a, p), eval(b, p));
            let (ua, ub) = match t {
                Ty::I32 => (a as u32 as u64, b as u32 as u64),
                Ty::I64 => (a as u64, b as u64),
            };
            (match *op {
                "eq" => a == b,
                "ne" => a != b,
                "lt_s" => a < b,
                "gt_s" => a > b,
                "le_s" => a <= b,
                "ge_s" => a >= b,
                "lt_u" => ua < ub,
                "gt_u" => ua > ub,
                "le_u" => ua <= ub,
                "ge_u" => ua >= ub,
                _ => unreachable!(),
            }) as i64
        }
        E::Div(op, Ty::I32, a, b) => {
            let a = eval(a, p) as i32;
            let b = (eval(b, p) as i32 & 0x7fff_ffff) | 1;
            w32(match *op {
                "div_s" => a / b,
                "div_u" => ((a as u32) / (b as u32)) as i32,
                "rem_s" => a % b,
                "rem_u" => ((a as u32) % (b as u32)) as i32,
                _ => unreachable!(),
            } as i64)
        }
        E::Div(op, Ty::I64, a, b) => {
            let a = eval(a, p);
            let b = (eval(b, p) & i64::MAX) | 1;
            match *op {
                "div_s" => a / b,
                "div_u" => ((a as u64) / (b as u64)) as i64,
                "rem_s" => a % b,
                "rem_u" => ((a as u64) % (b as u64)) as i64,
                _ => unreachable!(),
            }
        }
        E::Wrap(a) => w32(eval(a, p)),
        E::Extend(true, a) => eval(a, p) as i32 as i64,
        E::Extend(false, a) => eval(a, p) as u32 as i64,
        E::Select(_, a, b, c) => {
            // both operands are evaluated (in order), then chosen
            let (a, b) = (eval(a, p), eval(b, p));
            if eval(c, p) as i32 != 0 {
                a
            } else {
                b
            }
        }
        E::If(_, c, a, b) => {
            if eval(c, p) as i32 != 0 {
                eval(a, p)
            } else {
                eval(b, p)
            }
        }
        E::Call(_, a) | E::Block(_, a) => eval(a, p),
    }
}

fn ty_of(e: &E) -> Ty {
    match e {
        E::Param(k) => {
            if *k < 2 {
                Ty::I32
            } else {
                Ty::I64
            }
        }
        E::Const(t, _)
        | E::Bin(_, t, _, _)
        | E::Div(_, t, _, _)
        | E::Select(t, _, _, _)
        | E::If(t, _, _, _)
        | E::Call(t, _)
        | E::Block(t, _) => *t,
        E::Un(op, t, _) => {
            if *op == "eqz" {
                Ty::I32
            } else {
                *t
            }
        }
        E::Cmp(..) | E::Wrap(_) => Ty::I32,
        E::Extend(..) => Ty::I64,
    }
}

const PARAM_SETS: [[i64; 4]; 6] = [
    [0, 0, 0, 0],
    [1, -1, 1, -1],
    [i32::MIN as i64, i32::MAX as i64, i64::MIN, i64::MAX],
    [
        0x1234_5678,
        -0x789a_bcdf,
        0x0123_4567_89ab_cdef,
        -0x1000_0000_0000,
    ],
    [31, 32, 63, 64],
    [-7, 100, 0xffff_ffff, 0x8000_0000],
];

#[test]
fn random_integer_expressions() {
    let mut rng = Rng::new(seed(0x00c0_ffee));
    let mut failures: Vec<(usize, String)> = Vec::new();
    for module in 0..6 {
        let funcs: Vec<E> = (0..60)
            .map(|k| {
                let ty = if k % 2 == 0 { Ty::I32 } else { Ty::I64 };
                gen(&mut rng, ty, 2 + (k as u32 % 5))
            })
            .collect();
        let mut text = String::from(
            "(module\n(func $id_i32 (param i32) (result i32) (local.get 0))\n\
             (func $id_i64 (param i64) (result i64) (local.get 0))\n",
        );
        for (k, e) in funcs.iter().enumerate() {
            text += &format!(
                "(func (export \"f{k}\") (param i32 i32 i64 i64) (result {}) {})\n",
                ty_of(e).name(),
                wat(e)
            );
        }
        text += ")";
        let mut inst = instantiate_wat(&text);
        for (k, e) in funcs.iter().enumerate() {
            for p in &PARAM_SETS {
                let args = [
                    Val::I32(p[0] as i32),
                    Val::I32(p[1] as i32),
                    Val::I64(p[2]),
                    Val::I64(p[3]),
                ];
                let want = eval(e, p);
                let want = match ty_of(e) {
                    Ty::I32 => Val::I32(want as i32),
                    Ty::I64 => Val::I64(want),
                };
                let got = call(&mut inst, &format!("f{k}"), &args);
                if got != [want] {
                    let w = wat(e);
                    failures.push((
                        w.len(),
                        format!(
                            "module {module} f{k} params {p:?}: got {got:?}, want {want:?}\n  {w}"
                        ),
                    ));
                    break;
                }
            }
        }
    }
    assert_no_failures(failures, "functions", 8);
}

// ---------------------------------------------------------------------------
// Floats.

#[derive(Clone, Debug)]
enum F {
    Param(usize),
    Const(f64),
    Bin(&'static str, Box<F>, Box<F>),
    Un(&'static str, Box<F>),
    /// select on a float comparison
    SelCmp(&'static str, Box<F>, Box<F>, Box<F>, Box<F>),
    /// through f32 and back
    Demote(Box<F>),
    /// f64.convert_i64_s (i64.trunc_sat_f64_s x)
    RoundTrip(Box<F>),
    Call(Box<F>),
}

const FBIN: [&str; 7] = ["add", "sub", "mul", "div", "min", "max", "copysign"];
const FUN: [&str; 7] = ["neg", "abs", "sqrt", "ceil", "floor", "trunc", "nearest"];
const FCMP: [&str; 6] = ["eq", "ne", "lt", "gt", "le", "ge"];
const FCONSTS: [f64; 10] = [
    0.0,
    -0.0,
    1.0,
    -1.5,
    0.5,
    2.5,
    1e300,
    -1e-300,
    f64::INFINITY,
    std::f64::consts::PI,
];

fn fgen(rng: &mut Rng, depth: u32) -> F {
    if depth == 0 || rng.below(5) == 0 {
        return if rng.below(2) == 0 {
            F::Const(FCONSTS[rng.below(FCONSTS.len() as u64) as usize])
        } else {
            F::Param(rng.below(3) as usize)
        };
    }
    let d = depth - 1;
    match rng.below(9) {
        0..=3 => F::Bin(
            FBIN[rng.below(FBIN.len() as u64) as usize],
            Box::new(fgen(rng, d)),
            Box::new(fgen(rng, d)),
        ),
        4 | 5 => F::Un(
            FUN[rng.below(FUN.len() as u64) as usize],
            Box::new(fgen(rng, d)),
        ),
        6 => F::SelCmp(
            FCMP[rng.below(FCMP.len() as u64) as usize],
            Box::new(fgen(rng, d)),
            Box::new(fgen(rng, d)),
            Box::new(fgen(rng, d)),
            Box::new(fgen(rng, d)),
        ),
        7 => {
            if rng.below(2) == 0 {
                F::Demote(Box::new(fgen(rng, d)))
            } else {
                F::RoundTrip(Box::new(fgen(rng, d)))
            }
        }
        _ => F::Call(Box::new(fgen(rng, d))),
    }
}

fn fwat(e: &F) -> String {
    match e {
        F::Param(k) => format!("(local.get {k})"),
        F::Const(c) => format!("(f64.const {})", f64_wat(c.to_bits())),
        // The sign of a NaN made by arithmetic is unspecified, so
        // copysign never takes its sign from a NaN here.
        F::Bin("copysign", a, b) => {
            let b = fwat(b);
            format!(
                "(f64.copysign {} (select {b} (f64.const 1) (f64.eq {b} {b})))",
                fwat(a)
            )
        }
        F::Bin(op, a, b) => format!("(f64.{op} {} {})", fwat(a), fwat(b)),
        F::Un(op, a) => format!("(f64.{op} {})", fwat(a)),
        F::SelCmp(op, a, b, x, y) => format!(
            "(select {} {} (f64.{op} {} {}))",
            fwat(a),
            fwat(b),
            fwat(x),
            fwat(y)
        ),
        F::Demote(a) => format!("(f64.promote_f32 (f32.demote_f64 {}))", fwat(a)),
        F::RoundTrip(a) => format!("(f64.convert_i64_s (i64.trunc_sat_f64_s {}))", fwat(a)),
        F::Call(a) => format!("(call $id {})", fwat(a)),
    }
}

fn wasm_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else {
        a.min(b)
    }
}

fn wasm_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_positive() {
            a
        } else {
            b
        }
    } else {
        a.max(b)
    }
}

fn feval(e: &F, p: &[f64; 3]) -> f64 {
    match e {
        F::Param(k) => p[*k],
        F::Const(c) => *c,
        F::Bin(op, a, b) => {
            let (a, b) = (feval(a, p), feval(b, p));
            match *op {
                "add" => a + b,
                "sub" => a - b,
                "mul" => a * b,
                "div" => a / b,
                "min" => wasm_min(a, b),
                "max" => wasm_max(a, b),
                "copysign" => a.copysign(if b.is_nan() { 1.0 } else { b }),
                _ => unreachable!(),
            }
        }
        F::Un(op, a) => {
            let a = feval(a, p);
            match *op {
                "neg" => -a,
                "abs" => a.abs(),
                "sqrt" => a.sqrt(),
                "ceil" => a.ceil(),
                "floor" => a.floor(),
                "trunc" => a.trunc(),
                "nearest" => a.round_ties_even(),
                _ => unreachable!(),
            }
        }
        F::SelCmp(op, a, b, x, y) => {
            let (a, b, x, y) = (feval(a, p), feval(b, p), feval(x, p), feval(y, p));
            let c = match *op {
                "eq" => x == y,
                "ne" => x != y,
                "lt" => x < y,
                "gt" => x > y,
                "le" => x <= y,
                "ge" => x >= y,
                _ => unreachable!(),
            };
            if c {
                a
            } else {
                b
            }
        }
        F::Demote(a) => feval(a, p) as f32 as f64,
        // Rust's `as` saturates and maps NaN to 0, like trunc_sat.
        F::RoundTrip(a) => feval(a, p) as i64 as f64,
        F::Call(a) => feval(a, p),
    }
}

/// Whether NaNs may reach the result through operations whose NaN sign
/// and payload the specification leaves open; then only "is NaN" is
/// compared, otherwise the exact bits.
fn same(got: f64, want: f64) -> bool {
    (got.is_nan() && want.is_nan()) || got.to_bits() == want.to_bits()
}

#[test]
fn random_float_expressions() {
    let mut rng = Rng::new(seed(0xf1_0a7));
    let params: [[f64; 3]; 5] = [
        [0.0, -0.0, 1.0],
        [1.5, -2.5, 0.1],
        [f64::NAN, 1.0, -1.0],
        [1e308, -1e-308, f64::NEG_INFINITY],
        [123.456, -0.5, 4503599627370497.0],
    ];
    let mut failures: Vec<(usize, String)> = Vec::new();
    for module in 0..4 {
        let funcs: Vec<F> = (0..60).map(|k| fgen(&mut rng, 2 + k % 4)).collect();
        let mut text = String::from("(module\n(func $id (param f64) (result f64) (local.get 0))\n");
        for (k, e) in funcs.iter().enumerate() {
            text += &format!(
                "(func (export \"f{k}\") (param f64 f64 f64) (result f64) {})\n",
                fwat(e)
            );
        }
        text += ")";
        let mut inst = instantiate_wat(&text);
        for (k, e) in funcs.iter().enumerate() {
            for p in &params {
                let args = p.map(Val::f64);
                let want = feval(e, p);
                let got = call(&mut inst, &format!("f{k}"), &args);
                let ok =
                    matches!(got.as_slice(), [Val::F64(bits)] if same(f64::from_bits(*bits), want));
                if !ok {
                    let w = fwat(e);
                    failures.push((
                        w.len(),
                        format!(
                            "module {module} f{k} params {p:?}: got {got:?}, want {want:?} ({:#x})\n  {w}",
                            want.to_bits()
                        ),
                    ));
                    break;
                }
            }
        }
    }
    assert_no_failures(failures, "functions", 8);
}
