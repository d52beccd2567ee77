//! Calls into hand-written x86-64 code, so the call path, traps, host
//! functions, imports from other instances, tables, helpers and the stack
//! limit are tested without the compiler.
//!
//! The code does not follow the real compiler's internal convention: its
//! "trampoline" is `jmp *%rdx`, so each function is entered as a C function
//! `(vmctx, argv) -> u32` that returns 0, or records a trap in the runtime
//! state (site and vmctx, as trap stubs do) and returns 1. What matters here
//! is the loader's side of the contract: vmctx slots, argument slots,
//! `RuntimeState`, `ImportedFunc`, `FuncRef`, `TableDef`, `HostCallFn` and
//! helper ABIs. Offsets come from `VmctxLayout`, so layout changes in the
//! format are picked up.

use std::sync::Arc;

use vibewasm_format::vmctx::{
    self, Helper, VmctxLayout, FUNC_REF_CODE, FUNC_REF_TYPE_ID, FUNC_REF_VMCTX, IMPORT_CALLEE,
    IMPORT_HOST_ENV, IMPORT_HOST_FN, MEMORY0, RUNTIME, RUNTIME_STACK_LIMIT, RUNTIME_TRAP_SITE,
    RUNTIME_TRAP_VMCTX, TABLE_DEF_ELEMENTS, TABLE_DEF_LEN,
};
use vibewasm_format::{
    CodeRange, ConstExpr, DataSegment, ElementSegment, Export, ExternKind, Import, ImportKind,
    MemoryType, Metadata, RelocTarget, Relocation, SegmentMode, SiteTables, TableType, Trampolines,
    TrapCode, TrapSite, ValType,
};

use super::asm::*;
use super::{func_type, load_with};
use crate::{Artifact, Caller, Error, Instance, Linker, Store, Trap, Val};

const HOST_SITE: u32 = 0;
const DIV_SITE: u32 = 1;
const RECURSE_SITE: u32 = 2;
const CHECK_SITE: u32 = 3;
const UNDEFINED_SITE: u32 = 4;
const UNINITIALIZED_SITE: u32 = 5;
const MISMATCH_SITE: u32 = 6;

/// Function indices.
const CHECK: u32 = 7;
const ADD: u32 = 1;

/// Records trap `site` for the instance whose vmctx is in `vmctx_reg` and
/// sets the return value 1.
fn trap(a: &mut Asm, vmctx_reg: u8, site: u32) {
    a.load(RAX, vmctx_reg, RUNTIME);
    a.store_imm32(RAX, RUNTIME_TRAP_SITE, site);
    a.store(RAX, RUNTIME_TRAP_VMCTX, vmctx_reg);
    a.mov_imm32(RAX, 1);
}

/// The code of every function (see `metadata`) for `layout`; returns the
/// code and each function's offset.
fn assemble(layout: &VmctxLayout) -> (Vec<u8>, Vec<u32>) {
    let mut a = Asm::default();
    let mut starts = Vec::new();
    a.jmp_reg(RDX); // the "trampoline"

    // 0: import stub: the other instance's function, or host_fn(env, vmctx, argv).
    starts.push(a.align());
    let import = layout.imported_func(0);
    let (host, fail) = (a.label(), a.label());
    a.load(RAX, RDI, import + IMPORT_CALLEE);
    a.test(true, RAX);
    a.jcc(JE, host);
    a.load(RDI, RAX, FUNC_REF_VMCTX);
    a.jmp_mem(RAX, FUNC_REF_CODE);
    a.bind(host);
    a.push(RBX);
    a.mov(RBX, RDI);
    a.mov(RDX, RSI);
    a.mov(RSI, RDI);
    a.load(RDI, RBX, import + IMPORT_HOST_ENV);
    a.call_mem(RBX, import + IMPORT_HOST_FN);
    a.test(false, RAX);
    a.jcc(JNE, fail);
    a.pop(RBX);
    a.ret();
    a.bind(fail);
    trap(&mut a, RBX, HOST_SITE);
    a.pop(RBX);
    a.ret();

    // 1: add: mov (%rsi),%eax; add 8(%rsi),%eax; mov %rax,(%rsi); xor %eax,%eax; ret
    starts.push(a.align());
    a.raw(&[
        0x8b, 0x06, 0x03, 0x46, 0x08, 0x48, 0x89, 0x06, 0x31, 0xc0, 0xc3,
    ]);

    // 2: div: always traps.
    starts.push(a.align());
    trap(&mut a, RDI, DIV_SITE);
    a.ret();

    // 3: grow: the MemoryGrow helper on our own argument array.
    starts.push(a.align());
    a.push(RBX);
    a.call_mem(RDI, layout.helper(Helper::MemoryGrow));
    a.pop(RBX);
    a.ret();

    // 4: recurse: checks the stack limit, then calls itself forever.
    starts.push(a.align());
    let (recurse, overflow) = (a.label(), a.label());
    a.bind(recurse);
    a.load(RAX, RDI, RUNTIME);
    a.cmp_mem(true, RSP, RAX, RUNTIME_STACK_LIMIT);
    a.jcc(JB, overflow);
    a.call(recurse);
    a.ret();
    a.bind(overflow);
    trap(&mut a, RDI, RECURSE_SITE);
    a.ret();

    // 5: load8: memory0.base[arg] via MEMORY0.
    starts.push(a.align());
    a.load(RAX, RDI, MEMORY0);
    a.load(RAX, RAX, vmctx::MEMORY_DEF_BASE);
    a.load32(RCX, RSI, 0);
    a.raw(&[0x0f, 0xb6, 0x04, 0x08]); // movzbl (%rax,%rcx),%eax
    a.store(RSI, 0, RAX);
    a.raw(&[0x31, 0xc0]); // xor %eax,%eax
    a.ret();

    // 6: bad_site: reports a site the artifact does not have.
    starts.push(a.align());
    trap(&mut a, RDI, 99);
    a.ret();

    // 7: check: traps on 0, else returns arg + 1.
    starts.push(a.align());
    let zero = a.label();
    a.load32(RAX, RSI, 0);
    a.test(false, RAX);
    a.jcc(JE, zero);
    a.raw(&[0x83, 0xc0, 0x01]); // add $1,%eax
    a.store(RSI, 0, RAX);
    a.raw(&[0x31, 0xc0]);
    a.ret();
    a.bind(zero);
    trap(&mut a, RDI, CHECK_SITE);
    a.ret();

    // 8: call_table(index, x): call_indirect of type 0 through table 0.
    starts.push(a.align());
    let (done, undefined, uninitialized, mismatch) = (a.label(), a.label(), a.label(), a.label());
    a.push(RBX);
    a.push(R13);
    a.push(RAX); // keeps the stack 16-byte aligned at the call
    a.mov(RBX, RDI);
    a.mov(R13, RSI);
    a.load(RAX, RBX, layout.table(0));
    a.load32(RCX, R13, 0);
    a.cmp_mem(true, RCX, RAX, TABLE_DEF_LEN);
    a.jcc(JAE, undefined);
    a.load(RAX, RAX, TABLE_DEF_ELEMENTS);
    a.raw(&[0x48, 0x8b, 0x04, 0xc8]); // mov (%rax,%rcx,8),%rax
    a.test(true, RAX);
    a.jcc(JE, uninitialized);
    a.load32(RDX, RBX, layout.type_id(0));
    a.cmp_mem(false, RDX, RAX, FUNC_REF_TYPE_ID);
    a.jcc(JNE, mismatch);
    a.load(RDX, R13, 8);
    a.store(R13, 0, RDX);
    a.load(RDI, RAX, FUNC_REF_VMCTX);
    a.mov(RSI, R13);
    a.call_mem(RAX, FUNC_REF_CODE);
    a.bind(done);
    a.pop(RCX);
    a.pop(R13);
    a.pop(RBX);
    a.ret();
    for (label, site) in [
        (undefined, UNDEFINED_SITE),
        (uninitialized, UNINITIALIZED_SITE),
        (mismatch, MISMATCH_SITE),
    ] {
        a.bind(label);
        trap(&mut a, RBX, site);
        a.jmp(done);
    }

    // 9: get_ref: `ref.func 7`.
    starts.push(a.align());
    a.load(RAX, RDI, layout.func_ref(CHECK));
    a.store(RSI, 0, RAX);
    a.raw(&[0x31, 0xc0]);
    a.ret();

    starts.push(a.align());
    (a.finish(), starts)
}

/// The test module. `prefix` goes in front of every function name; with
/// `import_table` the table is imported as `env::table` instead of defined
/// (and gets no element segment).
fn metadata(prefix: &str, import_table: bool) -> (Metadata, SiteTables, Vec<u8>) {
    use ValType::I32;
    let site = |func, wasm_offset, code| TrapSite {
        func,
        wasm_offset,
        code,
    };
    let func = |name: &str, index| Export {
        name: name.into(),
        kind: ExternKind::Func,
        index,
    };
    let names = [
        "call_host",
        "add",
        "div",
        "grow",
        "recurse",
        "load8",
        "bad_site",
        "check",
        "call_table",
        "get_ref",
    ];
    let table = TableType {
        element: ValType::FuncRef,
        min: 3,
        max: None,
        index64: false,
    };
    let mut imports = vec![Import {
        module: "env".into(),
        name: "host".into(),
        kind: ImportKind::Func(0),
    }];
    if import_table {
        imports.push(Import {
            module: "env".into(),
            name: "table".into(),
            kind: ImportKind::Table(table),
        });
    }
    let mut exports: Vec<Export> = (0u32..).zip(names).map(|(i, n)| func(n, i)).collect();
    exports.push(Export {
        name: "table".into(),
        kind: ExternKind::Table,
        index: 0,
    });
    exports.push(Export {
        name: "mem".into(),
        kind: ExternKind::Memory,
        index: 0,
    });
    let mut metadata = Metadata {
        types: vec![
            func_type(&[I32], &[I32]),
            func_type(&[I32, I32], &[I32]),
            func_type(&[], &[]),
            func_type(&[], &[ValType::FuncRef]),
        ],
        imports,
        func_types: vec![0, 1, 2, 0, 2, 0, 2, 0, 1, 3],
        trampolines: Some(Trampolines {
            host_entry: 0,
            trap_path: 0,
        }),
        ..Metadata::default()
    };
    let mut tables = SiteTables {
        traps: vec![
            site(0, 0, TrapCode::HostError),
            site(2, 0x4a, TrapCode::IntegerDivideByZero),
            site(4, 0x10, TrapCode::StackOverflow),
            site(CHECK, 0x70, TrapCode::Unreachable),
            site(8, 0x80, TrapCode::UndefinedElement),
            site(8, 0x81, TrapCode::UninitializedElement),
            site(8, 0x82, TrapCode::IndirectCallTypeMismatch),
        ],
        func_names: (0u32..)
            .zip(names)
            .skip(1)
            .map(|(i, n)| (i, format!("{prefix}{n}")))
            .collect(),
        ..SiteTables::default()
    };
    metadata = Metadata {
        memories: vec![MemoryType {
            min_pages: 1,
            max_pages: Some(3),
            index64: false,
        }],
        data: vec![DataSegment {
            mode: SegmentMode::Active {
                index: 0,
                offset: ConstExpr::I32(0),
            },
            bytes: vec![7, 8, 9],
        }],
        tables: if import_table { vec![] } else { vec![table] },
        elements: if import_table {
            vec![]
        } else {
            vec![ElementSegment {
                mode: SegmentMode::Active {
                    index: 0,
                    offset: ConstExpr::I32(0),
                },
                element: ValType::FuncRef,
                items: vec![
                    ConstExpr::RefFunc(CHECK),
                    ConstExpr::RefNull(ValType::FuncRef),
                    ConstExpr::RefFunc(ADD),
                ],
            }]
        },
        exports,
        ..metadata
    };
    let layout = VmctxLayout::new(&metadata);
    let (code, starts) = assemble(&layout);
    tables.functions = starts
        .windows(2)
        .map(|w| CodeRange {
            offset: w[0],
            len: w[1] - w[0],
            frame_size: 8,
        })
        .collect();
    metadata.relocations = vec![
        Relocation {
            slot: layout.helper(Helper::MemoryGrow) as u32,
            target: RelocTarget::Helper(Helper::MemoryGrow as u32),
        },
        Relocation {
            slot: layout.imported_func(0) as u32,
            target: RelocTarget::ImportedFunc(0),
        },
    ];
    (metadata, tables, code)
}

fn artifact(prefix: &str, import_table: bool) -> Arc<Artifact> {
    let (metadata, tables, code) = metadata(prefix, import_table);
    load_with(&metadata, &tables, &code)
}

fn linker() -> Linker {
    let mut linker = Linker::new();
    linker
        .func_wrap(
            "env",
            "host",
            |caller: &mut Caller<'_>, x: i32| -> Result<i32, Trap> {
                match x {
                    0 => Err(Trap::new("zero")),
                    1 => panic!("kaboom"),
                    2 => Ok(caller.memory().map_or(-1, |m| m[0] as i32)),
                    3 => {
                        caller.memory_mut().unwrap()[1] = 42;
                        Ok(0)
                    }
                    _ => Ok(x * 2),
                }
            },
        )
        .unwrap();
    linker
}

fn instance() -> Instance {
    linker().instantiate_artifact(&artifact("", false)).unwrap()
}

fn expect_trap(result: Result<Vec<Val>, Error>) -> Trap {
    match result {
        Err(Error::Trap(trap)) => trap,
        other => panic!("expected a trap, got {other:?}"),
    }
}

fn i(v: i32) -> Val {
    Val::I32(v)
}

#[test]
fn calls_check_arguments_and_return_results() {
    let mut instance = instance();
    assert_eq!(instance.call("add", &[i(40), i(2)]).unwrap(), [i(42)]);
    let args = [i(-1), i(i32::MIN)];
    assert_eq!(instance.call("add", &args).unwrap(), [i(i32::MAX)]);

    let err = instance.call("add", &[i(1)]).unwrap_err();
    assert!(
        err.to_string().contains("expected 2 arguments, got 1"),
        "{err}"
    );
    let err = instance.call("add", &[i(1), Val::I64(2)]).unwrap_err();
    assert!(err.to_string().contains("argument 1"), "{err}");

    let add = instance.get_typed_func::<(i32, i32), i32>("add").unwrap();
    assert_eq!(add.call(&mut instance, (5, 6)).unwrap(), 11);
    let err = instance.get_typed_func::<i64, i32>("add").unwrap_err();
    let message = err.to_string();
    assert!(message.contains("[i32 i32] -> [i32]"), "{message}");
    assert!(message.contains("[i64] -> [i32]"), "{message}");

    // A typed handle works for every instance of its artifact, and only those.
    let mut second = linker().instantiate_artifact(instance.artifact()).unwrap();
    assert_eq!(add.call(&mut second, (1, 1)).unwrap(), 2);
    let mut other = instance_of_a_copy();
    let err = add.call(&mut other, (1, 1)).unwrap_err();
    assert!(err.message.contains("another artifact"), "{err}");
}

fn instance_of_a_copy() -> Instance {
    linker().instantiate_artifact(&artifact("", false)).unwrap()
}

#[test]
fn traps_carry_code_and_location_and_the_instance_survives() {
    let mut instance = instance();
    let trap = expect_trap(instance.call("div", &[]));
    assert_eq!(trap.code, TrapCode::IntegerDivideByZero);
    assert_eq!(trap.func, Some(2));
    assert_eq!(
        trap.to_string(),
        "integer divide by zero (in function 2 'div', wasm offset 0x4a)"
    );
    let trap = expect_trap(instance.call("bad_site", &[]));
    assert!(trap.message.starts_with("internal error"), "{trap}");
    assert_eq!(instance.call("add", &[i(1), i(2)]).unwrap(), [i(3)]);
}

#[test]
fn host_functions_get_arguments_memory_and_can_trap() {
    let mut instance = instance();
    let call = |instance: &mut Instance, x| instance.call("call_host", &[i(x)]);
    assert_eq!(call(&mut instance, 21).unwrap(), [i(42)]);
    assert_eq!(call(&mut instance, 2).unwrap(), [i(7)]);
    assert_eq!(call(&mut instance, 3).unwrap(), [i(0)]);
    assert_eq!(instance.memory().unwrap()[1], 42);

    let trap = expect_trap(call(&mut instance, 0));
    assert_eq!(trap.code, TrapCode::HostError);
    assert_eq!(trap.to_string(), "zero (in function 0 'env.host')");

    let trap = expect_trap(call(&mut instance, 1));
    assert!(
        trap.message.contains("host function panicked: kaboom"),
        "{trap}"
    );
    assert_eq!(call(&mut instance, 5).unwrap(), [i(10)]);
}

#[test]
fn untyped_host_functions_check_their_results() {
    let mut linker = Linker::new();
    linker
        .func_new(
            "env",
            "host",
            func_type(&[ValType::I32], &[ValType::I32]),
            |_, args| match args {
                [Val::I32(0)] => Ok(vec![Val::I64(0)]),
                [Val::I32(x)] => Ok(vec![i(x + 1)]),
                _ => Err(Trap::new("bad arguments")),
            },
        )
        .unwrap();
    let mut instance = linker.instantiate_artifact(&artifact("", false)).unwrap();
    let host = instance.get_typed_func::<i32, i32>("call_host").unwrap();
    assert_eq!(host.call(&mut instance, 41).unwrap(), 42);
    let trap = host.call(&mut instance, 0).unwrap_err();
    assert!(trap.message.contains("returned [i64]"), "{trap}");
}

#[test]
fn a_host_function_cannot_reenter_its_own_store() {
    // The host function reads a global of the store its caller runs in.
    let mut linker = Linker::new();
    let global = vibewasm_format::GlobalType {
        ty: ValType::I32,
        mutable: false,
    };
    let g = linker.define_global("env", "g", global, i(5)).unwrap();
    linker
        .func_wrap("env", "host", move |x: i32| -> Result<i32, Trap> {
            let v = g.get().map_err(|e| Trap::new(e.to_string()))?;
            Ok(x + v.as_i32().unwrap_or(0))
        })
        .unwrap();
    let mut instance = linker.instantiate_artifact(&artifact("", false)).unwrap();
    let trap = expect_trap(instance.call("call_host", &[i(1)]));
    assert!(trap.message.contains("store is in use"), "{trap}");
    // Outside of wasm the global is readable.
    assert_eq!(instance.global("nope"), None);
    let g = match linker.get("env", "g").unwrap() {
        crate::Extern::Global(g) => g.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(g.get(), Ok(i(5)));
}

#[test]
fn memory_grow_helper_respects_maximum_and_limit() {
    let mut instance = instance();
    let grow = instance.get_typed_func::<i32, i32>("grow").unwrap();
    assert_eq!(grow.call(&mut instance, 0).unwrap(), 1);
    assert_eq!(grow.call(&mut instance, 1).unwrap(), 1);
    assert_eq!(instance.memory().unwrap().len(), 2 * 65536);
    assert_eq!(grow.call(&mut instance, 5).unwrap(), -1);
    assert_eq!(grow.call(&mut instance, -1).unwrap(), -1);
    instance.set_memory_limit_pages(2);
    assert_eq!(grow.call(&mut instance, 1).unwrap(), -1);
    assert_eq!(instance.memory().unwrap().len(), 2 * 65536);

    let load8 = instance.get_typed_func::<i32, i32>("load8").unwrap();
    assert_eq!(load8.call(&mut instance, 2).unwrap(), 9);
    instance.memory_mut().unwrap()[65536 + 5] = 200;
    assert_eq!(load8.call(&mut instance, 65536 + 5).unwrap(), 200);
}

#[test]
fn element_segments_hold_func_ref_pointers() {
    let instance = instance();
    let data = instance.data();
    let meta = instance.artifact().metadata();
    let base = instance.artifact().code_base();
    let table = instance.get_table("table").unwrap();
    let element = |k| table.get(k).unwrap().as_func_ref().unwrap();
    let check = element(0).expect("non-null");
    assert_eq!(check.ptr(), data.func_ref(CHECK).unwrap());
    // SAFETY: the record is owned by the instance's store, which is alive.
    let record = unsafe { *check.ptr() };
    assert_eq!(
        record.code,
        base.wrapping_add(instance.artifact().function(7).unwrap().offset as usize)
    );
    assert_eq!(record.vmctx, data.vmctx.ptr());
    let type_id = crate::canonical_type_id(&meta.types[0]).unwrap();
    assert_eq!(record.type_id, type_id as u64);
    assert_eq!(data.vmctx.read_u32(data.layout.type_id(0)), type_id);
    assert_eq!(element(1), None);
    assert_eq!(element(2).unwrap().ptr(), data.func_ref(ADD).unwrap());
}

#[test]
fn call_indirect_checks_and_calls_table_elements() {
    let mut instance = instance();
    let call = |instance: &mut Instance, k, x| instance.call("call_table", &[i(k), i(x)]);
    assert_eq!(call(&mut instance, 0, 5).unwrap(), [i(6)]);
    let trap = expect_trap(call(&mut instance, 0, 0));
    assert_eq!((trap.code, trap.func), (TrapCode::Unreachable, Some(CHECK)));
    let trap = expect_trap(call(&mut instance, 1, 0));
    assert_eq!(trap.code, TrapCode::UninitializedElement);
    let trap = expect_trap(call(&mut instance, 2, 0));
    assert_eq!(trap.code, TrapCode::IndirectCallTypeMismatch);
    let trap = expect_trap(call(&mut instance, 3, 0));
    assert_eq!(trap.code, TrapCode::UndefinedElement);
    // The host grows the table and fills it with a function reference.
    let table = instance.get_table("table").unwrap();
    let check = instance.call("get_ref", &[]).unwrap()[0];
    assert_eq!(table.grow(1, check), Ok(Some(3)));
    assert_eq!(call(&mut instance, 3, 9).unwrap(), [i(10)]);
}

#[test]
fn instances_of_one_store_call_each_other_and_traps_name_the_right_one() {
    let mut a = linker()
        .instantiate_artifact(&artifact("a_", false))
        .unwrap();
    let mut linker = Linker::new();
    linker
        .define_extern("env", "host", a.get_func(a.store(), "check").unwrap())
        .unwrap();
    linker
        .define_extern("env", "table", a.get_table("table").unwrap())
        .unwrap();
    let mut b = linker.instantiate_artifact(&artifact("b_", true)).unwrap();
    assert!(Store::same(a.store(), b.store()));

    // B's import is A's function, called with A's vmctx.
    assert_eq!(b.call("call_host", &[i(5)]).unwrap(), [i(6)]);
    let trap = expect_trap(b.call("call_host", &[i(0)]));
    assert_eq!(trap.code, TrapCode::Unreachable);
    assert_eq!(trap.func_name.as_deref(), Some("a_check"), "{trap}");
    // B calls through A's table.
    assert_eq!(b.call("call_table", &[i(0), i(1)]).unwrap(), [i(2)]);
    let trap = expect_trap(b.call("call_table", &[i(0), i(0)]));
    assert_eq!(trap.func_name.as_deref(), Some("a_check"), "{trap}");
    // A calls B's function through its own table.
    let b_check = b.call("get_ref", &[]).unwrap()[0];
    a.get_table("table").unwrap().set(1, b_check).unwrap();
    assert_eq!(a.call("call_table", &[i(1), i(3)]).unwrap(), [i(4)]);
    let trap = expect_trap(a.call("call_table", &[i(1), i(0)]));
    assert_eq!(trap.func_name.as_deref(), Some("b_check"), "{trap}");
    // The exported function of another instance, from the host.
    let func = a
        .store()
        .func(b_check.as_func_ref().unwrap().unwrap())
        .unwrap();
    assert_eq!(func.call(&[i(7)]).unwrap(), [i(8)]);
    // Borrowed memory views need sole ownership of the store.
    assert!(a.memory().is_none());
    let mem = a.get_memory("mem").unwrap();
    let mut byte = [0u8; 1];
    mem.read(2, &mut byte).unwrap();
    assert_eq!(byte, [9]);
}

#[test]
fn references_of_another_store_are_refused() {
    let mut a = instance();
    let mut other = instance();
    let foreign = other.call("get_ref", &[]).unwrap()[0];
    assert!(a
        .store()
        .func(foreign.as_func_ref().unwrap().unwrap())
        .is_none());
    let err = a.get_table("table").unwrap().set(0, foreign).unwrap_err();
    assert_eq!(err, crate::AccessError::ForeignStore);
    let mine = a.call("get_ref", &[]).unwrap()[0];
    a.get_table("table").unwrap().set(1, mine).unwrap();
    assert_eq!(a.call("call_table", &[i(1), i(1)]).unwrap(), [i(2)]);
}

#[test]
fn start_function_traps_fail_instantiation() {
    let (mut metadata, tables, code) = metadata("", false);
    metadata.start = Some(2);
    let err = linker()
        .instantiate_artifact(&load_with(&metadata, &tables, &code))
        .unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::IntegerDivideByZero));
    assert!(err.to_string().contains("start function trapped"), "{err}");
    assert_eq!(err.as_trap().and_then(|t| t.func), Some(2));
}

fn recurse(instance: &mut Instance) -> Trap {
    expect_trap(instance.call("recurse", &[]))
}

#[test]
fn unbounded_recursion_traps() {
    let mut instance = instance();
    let trap = recurse(&mut instance);
    assert_eq!(trap.code, TrapCode::StackOverflow);
    assert_eq!(trap.func, Some(4));
    assert_eq!(trap.message, "call stack exhausted");
    instance.set_max_wasm_stack(16 * 1024);
    assert_eq!(recurse(&mut instance).code, TrapCode::StackOverflow);

    // On a small thread the thread's own stack is the limit. The instance
    // moves between threads.
    let mut instance = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let mut instance = instance;
            instance.set_max_wasm_stack(crate::DEFAULT_MAX_WASM_STACK);
            let trap = recurse(&mut instance);
            assert_eq!(trap.code, TrapCode::StackOverflow);
            assert_eq!(trap.func, Some(4), "wasm was entered");
            instance
        })
        .unwrap()
        .join()
        .unwrap();

    // Near the end of the stack wasm gets what is left above the red zone;
    // within the red zone it is not entered at all. (Threads are not a
    // reliable way to get a tiny stack: glibc reuses larger cached stacks.)
    let (low, _) = crate::stack::thread_stack_bounds().unwrap();
    let trap = descend_then_recurse(&mut instance, low, crate::RED_ZONE + 64 * 1024);
    assert_eq!(trap.func, Some(4), "wasm was entered");
    let trap = descend_then_recurse(&mut instance, low, crate::RED_ZONE - 8 * 1024);
    assert_eq!(trap.code, TrapCode::StackOverflow);
    assert_eq!(trap.func, None, "wasm was not entered");
    assert_eq!(instance.call("add", &[i(1), i(2)]).unwrap(), [i(3)]);
}

/// Uses Rust stack until about `remaining` bytes are left above `low`, then
/// calls the recursing wasm function.
fn descend_then_recurse(instance: &mut Instance, low: usize, remaining: usize) -> Trap {
    let pad = [0u8; 1024];
    std::hint::black_box(&pad);
    if crate::stack::approximate_sp() - low > remaining {
        let trap = descend_then_recurse(instance, low, remaining);
        // Keeps the frame (and `pad`) alive across the call: no tail call.
        std::hint::black_box(&pad);
        trap
    } else {
        recurse(instance)
    }
}

#[test]
fn instances_are_independent() {
    let artifact = artifact("", false);
    let mut a = linker().instantiate_artifact(&artifact).unwrap();
    let mut b = linker().instantiate_artifact(&artifact).unwrap();
    a.memory_mut().unwrap()[0] = 1;
    assert_eq!(b.memory().unwrap()[0], 7);
    assert!(!Store::same(a.store(), b.store()));
}
