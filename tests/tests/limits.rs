//! Big shapes: deep value stacks (spills), deeply nested blocks, hundreds
//! of parameters, thousands of functions, long br_tables, long functions.

use vibewasm_tests::*;

#[test]
fn deep_value_stack() {
    // Right-nested: (add 1 (add 2 (add 3 ... (local.get 0)))) keeps ~n
    // values on the stack at once.
    let n = 600;
    let mut expr = String::from("(local.get 0)");
    for k in (1..=n).rev() {
        expr = format!("(i64.add (i64.const {k}) (i64.mul {expr} (i64.const 3)))");
    }
    let wat = format!("(module (func (export \"f\") (param i64) (result i64) {expr}))");
    let mut inst = instantiate_wat(&wat);
    let eval = |x: i64| {
        let mut v = x;
        for k in (1..=n).rev() {
            v = (k as i64).wrapping_add(v.wrapping_mul(3));
        }
        v
    };
    for x in [0, 1, -5, 1 << 40] {
        assert_eq!(call_i64(&mut inst, "f", &[Val::I64(x)]), eval(x));
    }
    // The same with floats.
    let mut expr = String::from("(local.get 0)");
    for k in (1..=300).rev() {
        expr = format!("(f64.sub (f64.const {k}) (f64.mul {expr} (f64.const 0.5)))");
    }
    let wat = format!("(module (func (export \"f\") (param f64) (result f64) {expr}))");
    let mut inst = instantiate_wat(&wat);
    let mut want = 3.0f64;
    for k in (1..=300).rev() {
        want = k as f64 - want * 0.5;
    }
    assert_eq!(call(&mut inst, "f", &[Val::f64(3.0)]), [Val::f64(want)]);
}

#[test]
fn deeply_nested_blocks() {
    let depth = 1000;
    let mut body = String::new();
    for _ in 0..depth {
        body += "(block (result i32) ";
    }
    body += "(br_table 0 5 17 999 (i32.const 1) (local.get 0))";
    for k in 0..depth {
        body += &format!(" (i32.add (i32.const {}))) ", k % 7);
    }
    let wat = format!("(module (func (export \"f\") (param i32) (result i32) {body}))");
    let mut inst = instantiate_wat(&wat);
    // A branch to depth d skips the adds of the d innermost blocks.
    let total_from = |d: usize| -> i32 { 1 + (d..depth).map(|k| (k % 7) as i32).sum::<i32>() };
    assert_eq!(call_i32(&mut inst, "f", &[Val::I32(0)]), total_from(1));
    assert_eq!(call_i32(&mut inst, "f", &[Val::I32(1)]), total_from(6));
    assert_eq!(call_i32(&mut inst, "f", &[Val::I32(2)]), total_from(18));
    assert_eq!(call_i32(&mut inst, "f", &[Val::I32(3)]), 1);
    assert_eq!(call_i32(&mut inst, "f", &[Val::I32(4)]), 1);
}

#[test]
fn many_parameters() {
    let n = 200;
    let params = "(param i64) ".repeat(n);
    let mut sum = String::from("(i64.const 0)");
    for k in 0..n {
        sum = format!(
            "(i64.add {sum} (i64.mul (local.get {k}) (i64.const {})))",
            k + 1
        );
    }
    let args: String = (0..n)
        .map(|k| format!("(i64.const {}) ", k as i64 - 50))
        .collect();
    let wat = format!(
        r#"(module
          (func $many (export "many") {params} (result i64) {sum})
          (func (export "caller") (result i64) (call $many {args}))
          (func (export "mixed") (param i32 f64 i64 f32 i32 f64 i64 f32 i32 f64 i64 f32 i32 f64 i64 f32) (result f64)
            (f64.add (f64.add (f64.add (f64.convert_i32_s (local.get 0)) (local.get 1))
                              (f64.add (f64.convert_i64_s (local.get 2)) (f64.promote_f32 (local.get 3))))
              (f64.add (f64.add (f64.add (f64.convert_i32_s (local.get 12)) (local.get 13))
                                (f64.add (f64.convert_i64_s (local.get 14)) (f64.promote_f32 (local.get 15))))
                       (f64.add (f64.convert_i32_s (local.get 8)) (local.get 9)))))
        )"#
    );
    let mut inst = instantiate_wat(&wat);
    let want: i64 = (0..n as i64).map(|k| (k - 50) * (k + 1)).sum();
    assert_eq!(call_i64(&mut inst, "caller", &[]), want);
    let args: Vec<Val> = (0..n).map(|k| Val::I64(k as i64 - 50)).collect();
    assert_eq!(call_i64(&mut inst, "many", &args), want);
    let mixed: Vec<Val> = (0..16)
        .map(|k| match k % 4 {
            0 => Val::I32(k),
            1 => Val::f64(k as f64 + 0.5),
            2 => Val::I64(k as i64 * 10),
            _ => Val::f32(k as f32 * 0.25),
        })
        .collect();
    let want = (0.0 + 1.5) + (20.0 + 0.75) + ((12.0 + 13.5) + (140.0 + 3.75) + (8.0 + 9.5));
    assert_eq!(call(&mut inst, "mixed", &mixed), [Val::f64(want)]);
}

#[test]
fn thousands_of_functions() {
    let n = 3000;
    let mut wat =
        String::from("(module (table 3000 funcref) (type $t (func (param i32) (result i32)))\n");
    for k in 0..n {
        // each function calls the previous one
        let body = if k == 0 {
            "(local.get 0)".to_string()
        } else {
            format!(
                "(i32.add (call $f{} (local.get 0)) (i32.const {}))",
                k - 1,
                k % 3
            )
        };
        wat += &format!("(func $f{k} (type $t) {body})\n");
    }
    wat += "(elem (i32.const 0)";
    for k in 0..n {
        wat += &format!(" $f{k}");
    }
    wat += ")\n(export \"last\" (func $f2999))\n";
    wat += "(func (export \"indirect\") (param i32 i32) (result i32) (call_indirect (type $t) (local.get 1) (local.get 0)))\n)";
    let mut inst = instantiate_wat(&wat);
    let chain = |k: i32| (1..=k).map(|j| j % 3).sum::<i32>();
    assert_eq!(
        call_i32(&mut inst, "last", &[Val::I32(10)]),
        10 + chain(2999)
    );
    for k in [0, 1, 1500, 2999] {
        assert_eq!(
            call_i32(&mut inst, "indirect", &[Val::I32(k), Val::I32(0)]),
            chain(k)
        );
    }
}

#[test]
fn long_function_and_big_br_table() {
    // 20000 straight-line updates of one local.
    let n = 20000;
    let mut body = String::new();
    for k in 0..n {
        body += &format!(
            "(local.set 0 (i32.xor (i32.mul (local.get 0) (i32.const 31)) (i32.const {k})))\n"
        );
    }
    let wat =
        format!("(module (func (export \"f\") (param i32) (result i32) {body} (local.get 0)))");
    let mut inst = instantiate_wat(&wat);
    let mut x = 7i32;
    for k in 0..n {
        x = x.wrapping_mul(31) ^ k;
    }
    assert_eq!(call_i32(&mut inst, "f", &[Val::I32(7)]), x);

    // A br_table with 5000 entries, jumping to 4 targets in a pattern.
    let entries: String = (0..5000).map(|k| format!(" {}", k % 4)).collect();
    let wat = format!(
        r#"(module (func (export "t") (param i32) (result i32)
          (block (block (block (block
            (br_table{entries} 3 (local.get 0)))
            (return (i32.const 10)))
            (return (i32.const 11)))
            (return (i32.const 12)))
          (i32.const 13)))"#
    );
    let mut inst = instantiate_wat(&wat);
    for k in [0, 1, 2, 3, 4, 4999, 5000, -1] {
        let want = if (0..5000).contains(&k) {
            10 + k % 4
        } else {
            13
        };
        assert_eq!(call_i32(&mut inst, "t", &[Val::I32(k)]), want, "t({k})");
    }
}
