//! Locals, globals and structured control flow: block/loop/if/else, br,
//! br_if, br_table (default, out of range, carried values), multi-value
//! blocks and loops with parameters, return from nested blocks, select,
//! drop, nop.

use vibewasm_tests::*;

fn i(v: i32) -> Val {
    Val::I32(v)
}
fn l(v: i64) -> Val {
    Val::I64(v)
}

#[test]
fn locals_are_zero_initialised_and_tee_works() {
    let wat = r#"
    (module
      (func (export "zeros") (result i32 i64 f32 f64)
        (local i32 i64 f32 f64)
        local.get 0 local.get 1 local.get 2 local.get 3)
      ;; A second call must not see the locals of the first.
      (func (export "dirty") (param $x i32) (result i32)
        (local $a i32) (local $b i64)
        (local.set $a (i32.add (local.get $a) (local.get $x)))
        (local.set $b (i64.add (local.get $b) (i64.extend_i32_u (local.get $x))))
        (i32.add (local.get $a) (i32.wrap_i64 (local.get $b))))
      (func (export "tee") (param $x i32) (result i32)
        (local $y i32)
        (i32.add (local.tee $y (i32.mul (local.get $x) (i32.const 3))) (local.get $y)))
      (func (export "params_are_locals") (param $a i32) (param $b i32) (result i32)
        (local.set $a (i32.sub (local.get $a) (local.get $b)))
        (local.set $b (i32.const 100))
        (i32.add (local.get $a) (local.get $b)))
    )"#;
    let mut inst = instantiate_wat(wat);
    assert_eq!(
        call(&mut inst, "zeros", &[]),
        [i(0), l(0), Val::F32(0), Val::F64(0)]
    );
    assert_eq!(call_i32(&mut inst, "dirty", &[i(5)]), 10);
    assert_eq!(call_i32(&mut inst, "dirty", &[i(7)]), 14);
    assert_eq!(call_i32(&mut inst, "tee", &[i(7)]), 42);
    assert_eq!(
        call_i32(&mut inst, "params_are_locals", &[i(10), i(3)]),
        107
    );
}

#[test]
fn many_locals() {
    // More locals than registers; each set and read back.
    let n = 40;
    let mut body = String::new();
    for k in 0..n {
        body += &format!(
            "(local.set {k} (i64.mul (i64.const {}) (local.get $seed)))\n",
            k + 1
        );
    }
    let mut sum = String::from("(i64.const 0)");
    for k in 0..n {
        sum = format!("(i64.add {sum} (local.get {k}))");
    }
    let wat = format!(
        "(module (func (export \"f\") (param $seed i64) (result i64) (local {}) {body} {sum}))",
        "i64 ".repeat(n)
    );
    // The param is local 0, so "local.set 0" overwrites it first: compute the
    // expected value the same way.
    let mut inst = instantiate_wat(&wat);
    let expected = |seed: i64| {
        let mut locals = vec![0i64; n + 1];
        locals[0] = seed;
        for k in 0..n {
            locals[k] = (k as i64 + 1).wrapping_mul(locals[0]);
        }
        locals[..n].iter().fold(0i64, |a, b| a.wrapping_add(*b))
    };
    for seed in [1i64, -3, 0x1234_5678_9abc] {
        assert_eq!(call_i64(&mut inst, "f", &[l(seed)]), expected(seed));
    }
}

#[test]
fn globals_mutable_and_immutable() {
    let wat = r#"
    (module
      (global $c32 i32 (i32.const -7))
      (global $c64 i64 (i64.const 0x123456789abcdef0))
      (global $m32 (mut i32) (i32.const 10))
      (global $m64 (mut i64) (i64.const -1))
      (global $f (mut f64) (f64.const 2.5))
      (export "m32" (global $m32))
      (export "c64" (global $c64))
      (func (export "consts") (result i32 i64 i32)
        global.get $c32 global.get $c64 (i32.mul (global.get $c32) (i32.const 2)))
      (func (export "bump") (param i32) (result i32)
        (global.set $m32 (i32.add (global.get $m32) (local.get 0)))
        global.get $m32)
      (func (export "bump64") (param i64) (result i64)
        (global.set $m64 (i64.add (global.get $m64) (local.get 0)))
        global.get $m64)
      (func (export "scale") (param f64) (result f64)
        (global.set $f (f64.mul (global.get $f) (local.get 0)))
        global.get $f)
    )"#;
    let mut inst = instantiate_wat(wat);
    assert_eq!(
        call(&mut inst, "consts", &[]),
        [i(-7), l(0x1234_5678_9abc_def0), i(-14)]
    );
    assert_eq!(call_i32(&mut inst, "bump", &[i(5)]), 15);
    assert_eq!(call_i32(&mut inst, "bump", &[i(-20)]), -5);
    assert_eq!(inst.global("m32"), Some(i(-5)));
    assert_eq!(inst.global("c64"), Some(l(0x1234_5678_9abc_def0)));
    assert_eq!(call_i64(&mut inst, "bump64", &[l(1)]), 0);
    assert_eq!(call_i64(&mut inst, "bump64", &[l(i64::MIN)]), i64::MIN);
    assert_eq!(call(&mut inst, "scale", &[Val::f64(4.0)]), [Val::f64(10.0)]);
    // A second instance starts from the initial values.
    let mut other = instantiate_wat(wat);
    assert_eq!(call_i32(&mut other, "bump", &[i(1)]), 11);
    assert_eq!(call_i32(&mut inst, "bump", &[i(1)]), -4);
}

#[test]
fn blocks_ifs_and_branches() {
    let wat = r#"
    (module
      (func (export "if_else") (param i32) (result i32)
        (if (result i32) (local.get 0) (then (i32.const 10)) (else (i32.const 20))))
      (func (export "if_no_else") (param i32) (result i32)
        (local $r i32)
        (local.set $r (i32.const 1))
        (if (local.get 0) (then (local.set $r (i32.const 2))))
        local.get $r)
      (func (export "br_out") (param i32) (result i32)
        (block $out (result i32)
          (block $inner
            (br_if $inner (i32.eqz (local.get 0)))
            (br $out (i32.const 111)))
          (i32.const 222)))
      (func (export "nested") (param i32) (result i32)
        (block $a (result i32)
          (block $b (result i32)
            (block $c (result i32)
              (drop (br_if $a (i32.const 1) (i32.eq (local.get 0) (i32.const 1))))
              (drop (br_if $b (i32.const 2) (i32.eq (local.get 0) (i32.const 2))))
              (drop (br_if $c (i32.const 3) (i32.eq (local.get 0) (i32.const 3))))
              (i32.const 4))
            (i32.add (i32.const 30)))
          (i32.add (i32.const 200))))
      ;; br_if leaves its value on the stack when not taken
      (func (export "br_if_value") (param i32) (result i32)
        (block (result i32)
          (i32.add (br_if 0 (i32.const 5) (local.get 0)) (i32.const 100))))
      (func (export "nop_drop") (param i32) (result i32)
        nop (drop (i32.const 9)) nop (drop (local.get 0)) (i32.const 3) nop)
      (func (export "return_nested") (param i32) (result i32)
        (block (block (loop
          (if (i32.gt_s (local.get 0) (i32.const 5))
            (then (return (i32.mul (local.get 0) (i32.const 2)))))
          (local.set 0 (i32.add (local.get 0) (i32.const 1)))
          (br 0))))
        (i32.const -1))
      (func (export "unreachable_after_br") (result i32)
        (block (result i32) (br 0 (i32.const 7)) (i32.const 8) (i32.add) (unreachable)))
    )"#;
    let mut inst = instantiate_wat(wat);
    assert_eq!(call_i32(&mut inst, "if_else", &[i(1)]), 10);
    assert_eq!(call_i32(&mut inst, "if_else", &[i(-5)]), 10);
    assert_eq!(call_i32(&mut inst, "if_else", &[i(0)]), 20);
    assert_eq!(call_i32(&mut inst, "if_no_else", &[i(0)]), 1);
    assert_eq!(call_i32(&mut inst, "if_no_else", &[i(3)]), 2);
    assert_eq!(call_i32(&mut inst, "br_out", &[i(0)]), 222);
    assert_eq!(call_i32(&mut inst, "br_out", &[i(1)]), 111);
    assert_eq!(call_i32(&mut inst, "nested", &[i(1)]), 1);
    assert_eq!(call_i32(&mut inst, "nested", &[i(2)]), 202);
    assert_eq!(call_i32(&mut inst, "nested", &[i(3)]), 233);
    assert_eq!(call_i32(&mut inst, "nested", &[i(9)]), 234);
    assert_eq!(call_i32(&mut inst, "br_if_value", &[i(0)]), 105);
    assert_eq!(call_i32(&mut inst, "br_if_value", &[i(1)]), 5);
    assert_eq!(call_i32(&mut inst, "nop_drop", &[i(1)]), 3);
    assert_eq!(call_i32(&mut inst, "return_nested", &[i(0)]), 12);
    assert_eq!(call_i32(&mut inst, "return_nested", &[i(100)]), 200);
    assert_eq!(call_i32(&mut inst, "unreachable_after_br", &[]), 7);
}

#[test]
fn loops() {
    let wat = r#"
    (module
      (func (export "sum_to") (param $n i32) (result i64)
        (local $acc i64)
        (block $done
          (loop $next
            (br_if $done (i32.eqz (local.get $n)))
            (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $n))))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $next)))
        (local.get $acc))
      ;; loop with a parameter and a result (multi-value block types)
      (func (export "count_bits") (param $x i32) (result i32)
        (i32.const 0)
        (loop $l (param i32) (result i32)
          (i32.add (i32.and (local.get $x) (i32.const 1)))
          (local.set $x (i32.shr_u (local.get $x) (i32.const 1)))
          (br_if $l (local.get $x))))
      ;; nested loops: multiplication table sum
      (func (export "table") (param $n i32) (result i32)
        (local $i i32) (local $j i32) (local $s i32)
        (loop $outer
          (local.set $j (i32.const 0))
          (loop $inner
            (local.set $s (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $j))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_if $inner (i32.lt_u (local.get $j) (local.get $n))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $outer (i32.lt_u (local.get $i) (local.get $n))))
        (local.get $s))
      ;; Fibonacci with a two-value loop state
      (func (export "fib_pair") (param $n i32) (result i64)
        (i64.const 0) (i64.const 1)
        (block $done (param i64 i64) (result i64 i64)
          (loop $step (param i64 i64) (result i64 i64)
            (br_if $done (i32.eqz (local.get $n)))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (call $advance)
            (br $step)))
        (drop))
      (func $advance (param i64 i64) (result i64 i64)
        (local.get 1) (i64.add (local.get 0) (local.get 1)))
    )"#;
    let mut inst = instantiate_wat(wat);
    assert_eq!(call_i64(&mut inst, "sum_to", &[i(0)]), 0);
    assert_eq!(call_i64(&mut inst, "sum_to", &[i(100_000)]), 5_000_050_000);
    assert_eq!(call_i32(&mut inst, "count_bits", &[i(0)]), 0);
    assert_eq!(call_i32(&mut inst, "count_bits", &[i(-1)]), 32);
    assert_eq!(call_i32(&mut inst, "count_bits", &[i(0x1011)]), 3);
    assert_eq!(call_i32(&mut inst, "table", &[i(10)]), 2025);
    assert_eq!(call_i64(&mut inst, "fib_pair", &[i(0)]), 0);
    assert_eq!(call_i64(&mut inst, "fib_pair", &[i(1)]), 1);
    assert_eq!(
        call_i64(&mut inst, "fib_pair", &[i(90)]),
        2_880_067_194_370_816_120
    );
}

#[test]
fn multi_value_blocks_and_ifs() {
    let wat = r#"
    (module
      (func (export "swap") (param i32 i32) (result i32 i32)
        (local.get 0) (local.get 1)
        (block (param i32 i32) (result i32 i32)
          (local.set 0) (local.set 1) (local.get 0) (local.get 1)))
      (func (export "if_multi") (param i32) (result i32 i64 f64)
        (if (result i32 i64 f64) (local.get 0)
          (then (i32.const 1) (i64.const 2) (f64.const 3))
          (else (i32.const -1) (i64.const -2) (f64.const -3))))
      (func (export "if_params") (param i32 i32) (result i32)
        (local.get 1)
        (if (param i32) (result i32) (local.get 0)
          (then (i32.mul (i32.const 2)))
          (else (i32.sub (i32.const 0) (i32.const 1)) (i32.add))))
      (func (export "br_multi") (param i32) (result i32 i32)
        (block (result i32 i32)
          (br_if 0 (i32.const 1) (i32.const 2) (local.get 0))
          (drop) (drop)
          (i32.const 3) (i32.const 4)))
    )"#;
    let mut inst = instantiate_wat(wat);
    assert_eq!(call(&mut inst, "swap", &[i(1), i(2)]), [i(2), i(1)]);
    assert_eq!(
        call(&mut inst, "if_multi", &[i(1)]),
        [i(1), l(2), Val::f64(3.0)]
    );
    assert_eq!(
        call(&mut inst, "if_multi", &[i(0)]),
        [i(-1), l(-2), Val::f64(-3.0)]
    );
    assert_eq!(call_i32(&mut inst, "if_params", &[i(1), i(21)]), 42);
    assert_eq!(call_i32(&mut inst, "if_params", &[i(0), i(21)]), 20);
    assert_eq!(call(&mut inst, "br_multi", &[i(1)]), [i(1), i(2)]);
    assert_eq!(call(&mut inst, "br_multi", &[i(0)]), [i(3), i(4)]);
}

#[test]
fn br_table_cases_default_and_out_of_range() {
    let wat = r#"
    (module
      (func (export "switch") (param $i i32) (result i32)
        (block $default
          (block $c3
            (block $c2
              (block $c1
                (block $c0
                  (br_table $c0 $c1 $c2 $c3 $default (local.get $i)))
                (return (i32.const 100)))
              (return (i32.const 101)))
            (return (i32.const 102)))
          (return (i32.const 103)))
        (i32.const 999))
      ;; br_table carrying a value; several entries share a target
      (func (export "value") (param $i i32) (result i32)
        (block $a (result i32)
          (block $b (result i32)
            (block $c (result i32)
              (br_table $a $b $c $b $a (i32.const 7) (local.get $i)))
            (i32.add (i32.const 10)))
          (i32.add (i32.const 100))))
      ;; only a default
      (func (export "only_default") (param $i i32) (result i32)
        (block $d (result i32) (br_table $d (i32.const 55) (local.get $i))))
      ;; br_table to a loop: count down
      (func (export "loop_table") (param $n i32) (result i32)
        (local $steps i32)
        (block $exit
          (loop $again
            (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br_table $exit $again (i32.ne (local.get $n) (i32.const 0)))))
        (local.get $steps))
    )"#;
    let mut inst = instantiate_wat(wat);
    for (arg, want) in [
        (0, 100),
        (1, 101),
        (2, 102),
        (3, 103),
        (4, 999),
        (5, 999),
        (-1, 999),
        (i32::MAX, 999),
        (i32::MIN, 999),
    ] {
        assert_eq!(
            call_i32(&mut inst, "switch", &[i(arg)]),
            want,
            "switch({arg})"
        );
    }
    for (arg, want) in [
        (0, 7),
        (1, 107),
        (2, 117),
        (3, 107),
        (4, 7),
        (100, 7),
        (-1, 7),
    ] {
        assert_eq!(
            call_i32(&mut inst, "value", &[i(arg)]),
            want,
            "value({arg})"
        );
    }
    assert_eq!(call_i32(&mut inst, "only_default", &[i(0)]), 55);
    assert_eq!(call_i32(&mut inst, "only_default", &[i(-9)]), 55);
    assert_eq!(call_i32(&mut inst, "loop_table", &[i(5)]), 5);
}

#[test]
fn br_table_large() {
    // 300 targets: each case returns its own index * 3, default -1.
    let n = 300;
    let mut wat = String::from("(module (func (export \"big\") (param i32) (result i32)\n");
    wat += "(block $default\n";
    for k in (0..n).rev() {
        wat += &format!("(block $c{k}\n");
    }
    wat += "(br_table";
    for k in 0..n {
        wat += &format!(" $c{k}");
    }
    wat += " $default (local.get 0))\n";
    for k in 0..n {
        wat += &format!(") (return (i32.const {}))\n", k * 3);
    }
    wat += ") (i32.const -1)))";
    let mut inst = instantiate_wat(&wat);
    for k in [0, 1, 2, 150, 298, 299] {
        assert_eq!(call_i32(&mut inst, "big", &[i(k)]), k * 3);
    }
    assert_eq!(call_i32(&mut inst, "big", &[i(300)]), -1);
    assert_eq!(call_i32(&mut inst, "big", &[i(-1)]), -1);
}

#[test]
fn select() {
    let wat = r#"
    (module
      (func (export "i32") (param i32 i32 i32) (result i32)
        (select (local.get 0) (local.get 1) (local.get 2)))
      (func (export "i64") (param i64 i64 i32) (result i64)
        (select (local.get 0) (local.get 1) (local.get 2)))
      (func (export "f32") (param f32 f32 i32) (result f32)
        (select (local.get 0) (local.get 1) (local.get 2)))
      (func (export "f64") (param f64 f64 i32) (result f64)
        (select (result f64) (local.get 0) (local.get 1) (local.get 2)))
      (func (export "consts") (param i32) (result i32)
        (select (i32.const 11) (i32.const 22) (local.get 0)))
    )"#;
    let mut inst = instantiate_wat(wat);
    assert_eq!(call_i32(&mut inst, "i32", &[i(1), i(2), i(1)]), 1);
    assert_eq!(call_i32(&mut inst, "i32", &[i(1), i(2), i(0)]), 2);
    assert_eq!(call_i32(&mut inst, "i32", &[i(1), i(2), i(i32::MIN)]), 1);
    assert_eq!(
        call_i64(&mut inst, "i64", &[l(-1), l(i64::MIN), i(0)]),
        i64::MIN
    );
    assert_eq!(call_i64(&mut inst, "i64", &[l(-1), l(i64::MIN), i(7)]), -1);
    let nan = Val::F32(0x7fa0_0001);
    assert_eq!(call(&mut inst, "f32", &[nan, Val::f32(2.0), i(1)]), [nan]);
    assert_eq!(
        call(&mut inst, "f32", &[nan, Val::f32(-0.0), i(0)]),
        [Val::f32(-0.0)]
    );
    assert_eq!(
        call(&mut inst, "f64", &[Val::f64(1.5), Val::f64(-2.5), i(0)]),
        [Val::f64(-2.5)]
    );
    assert_eq!(call_i32(&mut inst, "consts", &[i(5)]), 11);
    assert_eq!(call_i32(&mut inst, "consts", &[i(0)]), 22);
}

#[test]
fn values_survive_across_branches_and_calls() {
    // Values on the stack below a block, a call and a branch stay intact.
    let wat = r#"
    (module
      (func $id (param i32) (result i32) (local.get 0))
      (func (export "f") (param $x i32) (result i32)
        (i32.add
          (i32.mul (local.get $x) (i32.const 1000))
          (i32.add
            (call $id (i32.add (local.get $x) (i32.const 1)))
            (block (result i32)
              (i32.add
                (local.get $x)
                (if (result i32) (i32.gt_s (local.get $x) (i32.const 0))
                  (then (br 1 (i32.const 50)))
                  (else (i32.const 60))))))))
    )"#;
    let mut inst = instantiate_wat(wat);
    assert_eq!(call_i32(&mut inst, "f", &[i(3)]), 3000 + 4 + 50);
    assert_eq!(call_i32(&mut inst, "f", &[i(-3)]), -3000 - 2 + 57);
}
