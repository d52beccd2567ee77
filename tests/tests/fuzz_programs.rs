//! Differential tests with random programs (seeded): statements over
//! typed locals (set, tee, get), memory loads and stores, ifs, bounded
//! loops and calls, run against an interpreter in Rust. This targets
//! register allocation of locals (locals kept in registers across calls,
//! branches and loops) and value-stack spills.

use vibewasm_tests::*;

fn seed(default: u64) -> u64 {
    match std::env::var("VIBEWASM_FUZZ_SEED") {
        Ok(s) => s.parse().expect("VIBEWASM_FUZZ_SEED must be a number"),
        Err(_) => default,
    }
}

/// Locals 0, 1 (params) and 4, 5 are i32; 2, 3 (params) and 6, 7 are
/// i64; 8 is the loop counter (i32), never assigned by random statements.
const NUM_LOCALS: usize = 9;
fn is64(k: usize) -> bool {
    matches!(k, 2 | 3 | 6 | 7)
}
const COUNTER: usize = 8;

#[derive(Clone, Debug)]
enum X {
    Local(usize),
    Const(bool, i64),
    /// op, is64, a, b
    Bin(&'static str, bool, Box<X>, Box<X>),
    /// i32 result
    Cmp(&'static str, bool, Box<X>, Box<X>),
    Tee(usize, Box<X>),
    /// i64.load from (addr & 0x3ff8); as i32 when the bool is false
    Load(bool, Box<X>),
    Wrap(Box<X>),
    Extend(Box<X>),
    /// call $mix (i64, i32) -> i64
    Call(Box<X>, Box<X>),
}

#[derive(Clone, Debug)]
enum S {
    Set(usize, X),
    /// i64.store at (addr & 0x3ff8)
    Store(X, X),
    If(X, Vec<S>, Vec<S>),
    /// runs the body n times (n = 0..=3), counter in local 8
    Loop(u32, Vec<S>),
}

const OPS: [&str; 8] = ["add", "sub", "mul", "and", "or", "xor", "shl", "rotl"];
const CMPS: [&str; 6] = ["eq", "ne", "lt_s", "lt_u", "gt_s", "ge_u"];
const CONSTS: [i64; 8] = [
    0,
    1,
    -1,
    7,
    0x7fff_ffff,
    -0x8000_0000,
    0xffff_ffff,
    i64::MIN,
];

fn local_of(rng: &mut Rng, wide: bool) -> usize {
    let choices: &[usize] = if wide { &[2, 3, 6, 7] } else { &[0, 1, 4, 5] };
    choices[rng.below(choices.len() as u64) as usize]
}

fn gen_x(rng: &mut Rng, wide: bool, depth: u32) -> X {
    if depth == 0 || rng.below(4) == 0 {
        return if rng.below(3) == 0 {
            let c = CONSTS[rng.below(CONSTS.len() as u64) as usize];
            X::Const(wide, if wide { c } else { c as i32 as i64 })
        } else {
            let k = if !wide && rng.below(6) == 0 {
                COUNTER
            } else {
                local_of(rng, wide)
            };
            X::Local(k)
        };
    }
    let d = depth - 1;
    match rng.below(10) {
        0..=3 => X::Bin(
            OPS[rng.below(OPS.len() as u64) as usize],
            wide,
            Box::new(gen_x(rng, wide, d)),
            Box::new(gen_x(rng, wide, d)),
        ),
        4 if !wide => {
            let w = rng.below(2) == 0;
            X::Cmp(
                CMPS[rng.below(CMPS.len() as u64) as usize],
                w,
                Box::new(gen_x(rng, w, d)),
                Box::new(gen_x(rng, w, d)),
            )
        }
        5 => X::Tee(local_of(rng, wide), Box::new(gen_x(rng, wide, d))),
        6 => X::Load(wide, Box::new(gen_x(rng, false, d))),
        7 => {
            if wide {
                X::Extend(Box::new(gen_x(rng, false, d)))
            } else {
                X::Wrap(Box::new(gen_x(rng, true, d)))
            }
        }
        8 if wide => X::Call(
            Box::new(gen_x(rng, true, d)),
            Box::new(gen_x(rng, false, d)),
        ),
        _ => X::Local(local_of(rng, wide)),
    }
}

fn gen_s(rng: &mut Rng, depth: u32, in_loop: bool) -> S {
    match rng.below(if depth == 0 { 2 } else { 4 }) {
        0 => {
            let wide = rng.below(2) == 0;
            let k = local_of(rng, wide);
            S::Set(k, gen_x(rng, is64(k), 3))
        }
        1 => S::Store(gen_x(rng, false, 2), gen_x(rng, true, 3)),
        2 => S::If(
            gen_x(rng, false, 2),
            (0..1 + rng.below(3))
                .map(|_| gen_s(rng, depth - 1, in_loop))
                .collect(),
            (0..rng.below(3))
                .map(|_| gen_s(rng, depth - 1, in_loop))
                .collect(),
        ),
        _ if !in_loop => S::Loop(
            rng.below(4) as u32,
            (0..1 + rng.below(3))
                .map(|_| gen_s(rng, depth - 1, true))
                .collect(),
        ),
        _ => {
            let k = local_of(rng, true);
            S::Set(k, gen_x(rng, true, 3))
        }
    }
}

fn ty(wide: bool) -> &'static str {
    if wide {
        "i64"
    } else {
        "i32"
    }
}

fn x_wat(x: &X) -> String {
    match x {
        X::Local(k) => format!("(local.get {k})"),
        X::Const(w, c) => format!("({}.const {c})", ty(*w)),
        X::Bin(op, w, a, b) => format!("({}.{op} {} {})", ty(*w), x_wat(a), x_wat(b)),
        X::Cmp(op, w, a, b) => format!("({}.{op} {} {})", ty(*w), x_wat(a), x_wat(b)),
        X::Tee(k, a) => format!("(local.tee {k} {})", x_wat(a)),
        X::Load(w, a) => {
            let load = format!("(i64.load (i32.and {} (i32.const 0x3ff8)))", x_wat(a));
            if *w {
                load
            } else {
                format!("(i32.wrap_i64 {load})")
            }
        }
        X::Wrap(a) => format!("(i32.wrap_i64 {})", x_wat(a)),
        X::Extend(a) => format!("(i64.extend_i32_s {})", x_wat(a)),
        X::Call(a, b) => format!("(call $mix {} {})", x_wat(a), x_wat(b)),
    }
}

fn s_wat(s: &S, out: &mut String) {
    match s {
        S::Set(k, x) => *out += &format!("(local.set {k} {})\n", x_wat(x)),
        S::Store(a, v) => {
            *out += &format!(
                "(i64.store (i32.and {} (i32.const 0x3ff8)) {})\n",
                x_wat(a),
                x_wat(v)
            )
        }
        S::If(c, t, e) => {
            *out += &format!("(if {} (then\n", x_wat(c));
            t.iter().for_each(|s| s_wat(s, out));
            *out += ") (else\n";
            e.iter().for_each(|s| s_wat(s, out));
            *out += "))\n";
        }
        S::Loop(n, body) => {
            *out += &format!(
                "(local.set {COUNTER} (i32.const 0))\n(block $done (loop $l\n\
                 (br_if $done (i32.ge_u (local.get {COUNTER}) (i32.const {n})))\n"
            );
            body.iter().for_each(|s| s_wat(s, out));
            *out += &format!(
                "(local.set {COUNTER} (i32.add (local.get {COUNTER}) (i32.const 1)))\n(br $l)))\n"
            );
        }
    }
}

struct State {
    locals: [i64; NUM_LOCALS],
    memory: Vec<u8>,
}

/// `$mix`: what the helper function computes.
fn mix(a: i64, b: i32) -> i64 {
    a.rotate_left(b as u32 & 63) ^ (b as i64).wrapping_mul(0x9e37_79b9)
}

fn norm(wide: bool, v: i64) -> i64 {
    if wide {
        v
    } else {
        v as i32 as i64
    }
}

fn x_eval(x: &X, st: &mut State) -> i64 {
    match x {
        X::Local(k) => st.locals[*k],
        X::Const(_, c) => *c,
        X::Bin(op, w, a, b) => {
            let (a, b) = (x_eval(a, st), x_eval(b, st));
            if *w {
                let s = b as u32 & 63;
                match *op {
                    "add" => a.wrapping_add(b),
                    "sub" => a.wrapping_sub(b),
                    "mul" => a.wrapping_mul(b),
                    "and" => a & b,
                    "or" => a | b,
                    "xor" => a ^ b,
                    "shl" => a.wrapping_shl(s),
                    "rotl" => a.rotate_left(s),
                    _ => unreachable!(),
                }
            } else {
                let (a, b) = (a as i32, b as i32);
                let s = b as u32 & 31;
                (match *op {
                    "add" => a.wrapping_add(b),
                    "sub" => a.wrapping_sub(b),
                    "mul" => a.wrapping_mul(b),
                    "and" => a & b,
                    "or" => a | b,
                    "xor" => a ^ b,
                    "shl" => a.wrapping_shl(s),
                    "rotl" => a.rotate_left(s),
                    _ => unreachable!(),
                }) as i64
            }
        }
        X::Cmp(op, w, a, b) => {
            let (a, b) = (x_eval(a, st), x_eval(b, st));
            let (ua, ub) = if *w {
                (a as u64, b as u64)
            } else {
                (a as u32 as u64, b as u32 as u64)
            };
            (match *op {
                "eq" => a == b,
                "ne" => a != b,
                "lt_s" => a < b,
                "lt_u" => ua < ub,
                "gt_s" => a > b,
                "ge_u" => ua >= ub,
                _ => unreachable!(),
            }) as i64
        }
        X::Tee(k, a) => {
            let v = x_eval(a, st);
            st.locals[*k] = v;
            v
        }
        X::Load(w, a) => {
            let addr = (x_eval(a, st) as i32 & 0x3ff8) as usize;
            let v = i64::from_le_bytes(st.memory[addr..addr + 8].try_into().unwrap());
            norm(*w, v)
        }
        X::Wrap(a) => x_eval(a, st) as i32 as i64,
        X::Extend(a) => x_eval(a, st) as i32 as i64,
        X::Call(a, b) => {
            let a = x_eval(a, st);
            let b = x_eval(b, st) as i32;
            mix(a, b)
        }
    }
}

fn s_eval(s: &S, st: &mut State) {
    match s {
        S::Set(k, x) => {
            let v = x_eval(x, st);
            st.locals[*k] = norm(is64(*k), v);
        }
        S::Store(a, v) => {
            let addr = (x_eval(a, st) as i32 & 0x3ff8) as usize;
            let v = x_eval(v, st);
            st.memory[addr..addr + 8].copy_from_slice(&v.to_le_bytes());
        }
        S::If(c, t, e) => {
            let branch = if x_eval(c, st) as i32 != 0 { t } else { e };
            branch.iter().for_each(|s| s_eval(s, st));
        }
        S::Loop(n, body) => {
            st.locals[COUNTER] = 0;
            while (st.locals[COUNTER] as u32) < *n {
                body.iter().for_each(|s| s_eval(s, st));
                st.locals[COUNTER] += 1;
            }
        }
    }
}

#[test]
fn random_programs_with_locals_memory_and_loops() {
    let mut rng = Rng::new(seed(0x0bad_cafe));
    let params: [[i64; 4]; 4] = [
        [0, 0, 0, 0],
        [1, -1, i64::MAX, i64::MIN],
        [0x1234, 0x7fff_ffff, 0x0123_4567_89ab_cdef, -2],
        [-0x8000_0000, 77, 0xffff_ffff, 1 << 40],
    ];
    let mut failures: Vec<(usize, String)> = Vec::new();
    for module in 0..4 {
        let programs: Vec<Vec<S>> = (0..25)
            .map(|_| {
                (0..3 + rng.below(6))
                    .map(|_| gen_s(&mut rng, 3, false))
                    .collect()
            })
            .collect();
        let mut text = String::from(
            "(module (memory 1)\n\
             (func $mix (param i64 i32) (result i64)\n\
               (i64.xor (i64.rotl (local.get 0) (i64.extend_i32_u (local.get 1)))\n\
                        (i64.mul (i64.extend_i32_s (local.get 1)) (i64.const 0x9e3779b9))))\n\
             (func (export \"clear\") (local i32)\n\
               (loop $l (i64.store (local.get 0) (i64.const 0))\n\
                 (local.set 0 (i32.add (local.get 0) (i32.const 8)))\n\
                 (br_if $l (i32.lt_u (local.get 0) (i32.const 0x4000)))))\n",
        );
        let mut bodies = Vec::new();
        for (k, prog) in programs.iter().enumerate() {
            let mut body = String::new();
            prog.iter().for_each(|s| s_wat(s, &mut body));
            // Return a digest of all locals.
            let mut digest = String::from("(i64.const 0)");
            for l in 0..NUM_LOCALS {
                let v = if is64(l) {
                    format!("(local.get {l})")
                } else {
                    format!("(i64.extend_i32_u (local.get {l}))")
                };
                digest = format!("(i64.add (i64.mul {digest} (i64.const 31)) {v})");
            }
            text += &format!(
                "(func (export \"p{k}\") (param i32 i32 i64 i64) (result i64)\n\
                 (local i32 i32 i64 i64 i32)\n{body}{digest})\n"
            );
            bodies.push(body);
        }
        text += ")";
        let mut inst = instantiate_wat(&text);
        for (k, prog) in programs.iter().enumerate() {
            for p in &params {
                call(&mut inst, "clear", &[]);
                let mut st = State {
                    locals: [0; NUM_LOCALS],
                    memory: vec![0; 0x4000],
                };
                st.locals[..4].copy_from_slice(&[
                    p[0] as i32 as i64,
                    p[1] as i32 as i64,
                    p[2],
                    p[3],
                ]);
                prog.iter().for_each(|s| s_eval(s, &mut st));
                let mut want = 0i64;
                for l in 0..NUM_LOCALS {
                    let v = if is64(l) {
                        st.locals[l]
                    } else {
                        st.locals[l] as u32 as i64
                    };
                    want = want.wrapping_mul(31).wrapping_add(v);
                }
                let args = [
                    Val::I32(p[0] as i32),
                    Val::I32(p[1] as i32),
                    Val::I64(p[2]),
                    Val::I64(p[3]),
                ];
                let got = call_i64(&mut inst, &format!("p{k}"), &args);
                let mem_ok = inst.memory_mut().unwrap()[..0x4000] == st.memory[..];
                if got != want || !mem_ok {
                    failures.push((
                        bodies[k].len(),
                        format!(
                            "module {module} p{k} params {p:?}: digest {got} want {want}, memory {}\n{}",
                            if mem_ok { "ok" } else { "differs" },
                            bodies[k]
                        ),
                    ));
                    break;
                }
            }
        }
    }
    assert_no_failures(failures, "programs", 3);
}
