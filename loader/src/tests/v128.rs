//! `v128` values through the call path with hand-written x86-64 code (see
//! `x86_64.rs` for the conventions of these tests): two argument slots per
//! value at `slot_offsets` positions, host functions taking and returning
//! them, and globals behind a pointer to a 16-byte-aligned cell.

use std::sync::Arc;

use vibewasm_format::vmctx::{
    VmctxLayout, IMPORT_HOST_ENV, IMPORT_HOST_FN, RUNTIME, RUNTIME_TRAP_SITE, RUNTIME_TRAP_VMCTX,
};
use vibewasm_format::{
    CodeRange, ConstExpr, Export, ExternKind, GlobalDef, GlobalType, Import, ImportKind, Metadata,
    RelocTarget, Relocation, SiteTables, Trampolines, TrapCode, TrapSite, ValType,
};

use super::asm::*;
use super::{func_type, load_with};
use crate::{Artifact, Error, Linker, Trap, Val};

const DEFINED_INIT: u128 = 0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100;

/// Function 0 is the import `env::host` ([v128 i32 v128] -> [v128 v128]);
/// 1 `swap` ([v128 v128] -> [v128 v128]); 2 `get_imported` and 4
/// `get_defined` ([] -> [v128]) read globals 0 (imported) and 1 (defined)
/// through their cells, the latter with an aligned vector load; 3
/// `set_defined` ([v128] -> []) writes global 1.
fn artifact() -> Arc<Artifact> {
    use ValType::{I32, V128};
    let v128 = GlobalType {
        ty: V128,
        mutable: true,
    };
    let func = |name: &str, index| Export {
        name: name.into(),
        kind: ExternKind::Func,
        index,
    };
    let mut metadata = Metadata {
        types: vec![
            func_type(&[V128, I32, V128], &[V128, V128]),
            func_type(&[V128, V128], &[V128, V128]),
            func_type(&[], &[V128]),
            func_type(&[V128], &[]),
        ],
        imports: vec![
            Import {
                module: "env".into(),
                name: "host".into(),
                kind: ImportKind::Func(0),
            },
            Import {
                module: "env".into(),
                name: "g".into(),
                kind: ImportKind::Global(v128),
            },
        ],
        func_types: vec![0, 1, 2, 3, 2],
        globals: vec![GlobalDef {
            ty: v128,
            init: ConstExpr::V128(DEFINED_INIT),
        }],
        exports: vec![
            func("host", 0),
            func("swap", 1),
            func("get_imported", 2),
            func("set_defined", 3),
            func("get_defined", 4),
            Export {
                name: "defined".into(),
                kind: ExternKind::Global,
                index: 1,
            },
        ],
        trampolines: Some(Trampolines {
            host_entry: 0,
            trap_path: 0,
        }),
        ..Metadata::default()
    };
    let layout = VmctxLayout::new(&metadata);
    let mut a = Asm::default();
    let mut starts = Vec::new();
    a.jmp_reg(RDX); // the "trampoline"

    // 0: host_fn(env, vmctx, argv); a failure records trap site 0.
    starts.push(a.align());
    let import = layout.imported_func(0);
    let fail = a.label();
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
    a.load(RAX, RBX, RUNTIME);
    a.store_imm32(RAX, RUNTIME_TRAP_SITE, 0);
    a.store(RAX, RUNTIME_TRAP_VMCTX, RBX);
    a.mov_imm32(RAX, 1);
    a.pop(RBX);
    a.ret();

    // 1: swap the two values (slots 0-1 and 2-3).
    starts.push(a.align());
    for half in [0, 8] {
        a.load(RAX, RSI, half);
        a.load(RCX, RSI, 16 + half);
        a.store(RSI, half, RCX);
        a.store(RSI, 16 + half, RAX);
    }
    a.raw(&[0x31, 0xc0]); // xor %eax,%eax
    a.ret();

    // 2: the imported global's cell, copied to slots 0-1.
    starts.push(a.align());
    a.load(RAX, RDI, layout.global(0));
    for half in [0, 8] {
        a.load(RCX, RAX, half);
        a.store(RSI, half, RCX);
    }
    a.raw(&[0x31, 0xc0]);
    a.ret();

    // 3: slots 0-1 to the defined global's cell.
    starts.push(a.align());
    a.load(RAX, RDI, layout.global(1));
    for half in [0, 8] {
        a.load(RCX, RSI, half);
        a.store(RAX, half, RCX);
    }
    a.raw(&[0x31, 0xc0]);
    a.ret();

    // 4: movdqa (%rax),%xmm0 from the defined global's cell (faults if it
    // is not 16-byte aligned); movdqu %xmm0,(%rsi).
    starts.push(a.align());
    a.load(RAX, RDI, layout.global(1));
    a.raw(&[0x66, 0x0f, 0x6f, 0x00, 0xf3, 0x0f, 0x7f, 0x06]);
    a.raw(&[0x31, 0xc0]);
    a.ret();

    starts.push(a.align());
    let code = a.finish();
    let tables = SiteTables {
        traps: vec![TrapSite {
            func: 0,
            wasm_offset: 0,
            code: TrapCode::HostError,
        }],
        functions: starts
            .windows(2)
            .map(|w| CodeRange {
                offset: w[0],
                len: w[1] - w[0],
                frame_size: 8,
            })
            .collect(),
        ..SiteTables::default()
    };
    metadata.relocations = vec![Relocation {
        slot: layout.imported_func(0) as u32,
        target: RelocTarget::ImportedFunc(0),
    }];
    load_with(&metadata, &tables, &code)
}

fn linker_with_global(value: u128) -> Linker {
    let mut linker = Linker::new();
    let ty = GlobalType {
        ty: ValType::V128,
        mutable: true,
    };
    linker
        .define_global("env", "g", ty, Val::V128(value))
        .unwrap();
    linker
}

const A: u128 = 0x1111_2222_3333_4444_5555_6666_7777_8888;
const B: u128 = 0x9999_aaaa_bbbb_cccc_dddd_eeee_ffff_0000;

#[test]
fn v128_arguments_and_results_take_two_slots() {
    let mut linker = linker_with_global(0);
    linker
        .func_wrap("env", "host", |a: u128, b: i32, c: u128| {
            (c.wrapping_add(b as u128), !a)
        })
        .unwrap();
    let mut instance = linker.instantiate_artifact(&artifact()).unwrap();
    assert_eq!(
        instance
            .call("swap", &[Val::V128(A), Val::V128(B)])
            .unwrap(),
        [Val::V128(B), Val::V128(A)]
    );
    let swap = instance
        .get_typed_func::<(u128, u128), (u128, u128)>("swap")
        .unwrap();
    assert_eq!(
        swap.call(&mut instance, (1, u128::MAX)).unwrap(),
        (u128::MAX, 1)
    );
    let err = instance
        .get_typed_func::<(u128, i64), (u128, u128)>("swap")
        .unwrap_err();
    assert!(
        err.to_string().contains("[v128 v128] -> [v128 v128]"),
        "{err}"
    );
    let err = instance
        .call("swap", &[Val::V128(A), Val::I64(0)])
        .unwrap_err();
    assert!(err.to_string().contains("argument 1"), "{err}");

    // The host function reads `c` at slot 3 (after `b` at slot 2), and its
    // results are at slots 0 and 2.
    assert_eq!(
        instance
            .call("host", &[Val::V128(A), Val::I32(-1), Val::V128(B)])
            .unwrap(),
        [Val::V128(B.wrapping_sub(1)), Val::V128(!A)]
    );
    let host = instance
        .get_typed_func::<(u128, i32, u128), (u128, u128)>("host")
        .unwrap();
    assert_eq!(
        host.call(&mut instance, (0, 5, 1 << 64)).unwrap(),
        ((1 << 64) + 5, u128::MAX)
    );
}

#[test]
fn untyped_host_functions_take_and_return_v128() {
    let mut linker = linker_with_global(0);
    let ty = func_type(
        &[ValType::V128, ValType::I32, ValType::V128],
        &[ValType::V128, ValType::V128],
    );
    linker
        .func_new("env", "host", ty, |_, args| match *args {
            [Val::V128(a), Val::I32(0), Val::V128(c)] => Ok(vec![Val::V128(c), Val::V128(a)]),
            [Val::V128(_), Val::I32(1), Val::V128(_)] => Ok(vec![Val::V128(0), Val::I64(0)]),
            _ => Err(Trap::new(format!("bad arguments {args:?}"))),
        })
        .unwrap();
    let mut instance = linker.instantiate_artifact(&artifact()).unwrap();
    assert_eq!(
        instance
            .call("host", &[Val::V128(A), Val::I32(0), Val::V128(B)])
            .unwrap(),
        [Val::V128(B), Val::V128(A)]
    );
    let err = instance
        .call("host", &[Val::V128(A), Val::I32(1), Val::V128(B)])
        .unwrap_err();
    assert!(err.to_string().contains("returned [v128 i64]"), "{err}");
    // The instance survives.
    let err = instance
        .call("host", &[Val::V128(A), Val::I32(2), Val::V128(B)])
        .unwrap_err();
    assert!(matches!(err, Error::Trap(_)), "{err}");
    assert!(err.to_string().contains("bad arguments"), "{err}");
}

#[test]
fn code_reaches_v128_globals_through_their_cells() {
    let linker = {
        let mut linker = linker_with_global(A);
        linker
            .func_wrap("env", "host", |a: u128, _: i32, c: u128| (a, c))
            .unwrap();
        linker
    };
    let mut instance = linker.instantiate_artifact(&artifact()).unwrap();
    assert_eq!(instance.call("get_imported", &[]).unwrap(), [Val::V128(A)]);
    assert_eq!(
        instance.call("get_defined", &[]).unwrap(),
        [Val::V128(DEFINED_INIT)]
    );
    instance.call("set_defined", &[Val::V128(B)]).unwrap();
    assert_eq!(instance.call("get_defined", &[]).unwrap(), [Val::V128(B)]);
    assert_eq!(instance.global("defined"), Some(Val::V128(B)));

    // The host's writes are what the code reads.
    let Some(crate::Extern::Global(g)) = linker.get("env", "g").cloned() else {
        panic!("no global");
    };
    g.set(Val::V128(u128::MAX)).unwrap();
    assert_eq!(
        instance.call("get_imported", &[]).unwrap(),
        [Val::V128(u128::MAX)]
    );
    instance
        .get_global("defined")
        .unwrap()
        .set(Val::V128(7))
        .unwrap();
    let get = instance.get_typed_func::<(), u128>("get_defined").unwrap();
    assert_eq!(get.call(&mut instance, ()).unwrap(), 7);
}
