;; The module examples/c/hello.c runs: it imports one host function and
;; exports one that calls it and one that traps.
(module
  (import "env" "log_i32" (func $log (param i32)))
  (func (export "double_and_log") (param i32) (result i32)
    (call $log (local.get 0))
    (i32.mul (local.get 0) (i32.const 2)))
  (func $divide (export "divide") (param i32 i32) (result i32)
    (i32.div_s (local.get 0) (local.get 1))))
