//! Calls into hand-assembled x86-64 code, so the call path, traps, host
//! functions, helpers and the stack limit are tested without the compiler.
//!
//! The code does not follow the real compiler's internal convention: its
//! "trampoline" is `jmp *%rdx`, so each function is entered as a C function
//! `(vmctx, argv) -> u32` that returns 0 or stores a trap site and returns 1.
//! What matters here is the loader's side of the contract: vmctx slots,
//! argument slots, trap sites, `HostCallFn` and helper ABIs.

use std::sync::Arc;

use vibewasm_format::vmctx::{Helper, VmctxLayout};
use vibewasm_format::{
    CodeRange, ConstExpr, DataSegment, ElementSegment, Export, ExternKind, Import, ImportKind,
    MemoryType, Metadata, RelocTarget, Relocation, SegmentMode, TableType, Trampolines, TrapCode,
    TrapSite, ValType,
};

use super::{func_type, load};
use crate::{canonical_type_id, Caller, Error, Instance, Linker, Trap, Val};

/// Assembled from (AT&T syntax; each function 16-byte aligned):
///
/// ```text
/// 0x00 tramp:   jmp *%rdx
/// 0x10 stub:    movl $0,16(%rdi); mov %rsi,%rdx; mov %rdi,%rsi
///               mov 80(%rsi),%rdi; jmp *72(%rsi)        # host_call(env, vmctx, argv)
/// 0x30 add:     mov (%rsi),%eax; add 8(%rsi),%eax; mov %rax,(%rsi); xor %eax,%eax; ret
/// 0x40 divtrap: movl $1,16(%rdi); mov $1,%eax; ret
/// 0x50 grow:    push %rbx; mov %rsi,%rbx; mov (%rsi),%esi; call *64(%rdi)
///               mov %rax,(%rbx); xor %eax,%eax; pop %rbx; ret
/// 0x60 rec:     cmp 8(%rdi),%rsp; jb 1f; call rec; ret
///           1:  movl $2,16(%rdi); mov $1,%eax; ret
/// 0x80 load8:   mov 24(%rdi),%rax; mov (%rax),%rax; mov (%rsi),%ecx
///               movzbl (%rax,%rcx),%eax; mov %rax,(%rsi); xor %eax,%eax; ret
/// 0xa0 bad:     movl $99,16(%rdi); mov $1,%eax; ret
/// ```
#[rustfmt::skip]
const CODE: [u8; 176] = [
    0xff, 0xe2, 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x1f, 0x00,
    0xc7, 0x47, 0x10, 0x00, 0x00, 0x00, 0x00, 0x48, 0x89, 0xf2, 0x48, 0x89, 0xfe, 0x48, 0x8b, 0x7e,
    0x50, 0xff, 0x66, 0x48, 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00, 0x90,
    0x8b, 0x06, 0x03, 0x46, 0x08, 0x48, 0x89, 0x06, 0x31, 0xc0, 0xc3, 0x0f, 0x1f, 0x44, 0x00, 0x00,
    0xc7, 0x47, 0x10, 0x01, 0x00, 0x00, 0x00, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3, 0x0f, 0x1f, 0x00,
    0x53, 0x48, 0x89, 0xf3, 0x8b, 0x36, 0xff, 0x57, 0x40, 0x48, 0x89, 0x03, 0x31, 0xc0, 0x5b, 0xc3,
    0x48, 0x3b, 0x67, 0x08, 0x72, 0x06, 0xe8, 0xf5, 0xff, 0xff, 0xff, 0xc3, 0xc7, 0x47, 0x10, 0x02,
    0x00, 0x00, 0x00, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3, 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00,
    0x48, 0x8b, 0x47, 0x18, 0x48, 0x8b, 0x00, 0x8b, 0x0e, 0x0f, 0xb6, 0x04, 0x08, 0x48, 0x89, 0x06,
    0x31, 0xc0, 0xc3, 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00, 0x66, 0x90,
    0xc7, 0x47, 0x10, 0x63, 0x00, 0x00, 0x00, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3, 0x0f, 0x1f, 0x00,
];

const STUB: u32 = 0x10;
const ADD: u32 = 0x30;

fn metadata() -> Metadata {
    use ValType::I32;
    let code = |offset, len| CodeRange { offset, len };
    let site = |func, wasm_offset, code| TrapSite {
        code_offset: 0x10,
        func,
        wasm_offset,
        code,
    };
    let export = |name: &str, index| Export {
        name: name.into(),
        kind: ExternKind::Func,
        index,
    };
    let metadata = Metadata {
        types: vec![
            func_type(&[I32], &[I32]),
            func_type(&[I32, I32], &[I32]),
            func_type(&[], &[]),
        ],
        imports: vec![Import {
            module: "env".into(),
            name: "host".into(),
            kind: ImportKind::Func(0),
        }],
        func_types: vec![0, 1, 2, 0, 2, 0, 2],
        functions: vec![
            code(STUB, 0x14),
            code(ADD, 0x0b),
            code(0x40, 0x0d),
            code(0x50, 0x10),
            code(0x60, 0x19),
            code(0x80, 0x13),
            code(0xa0, 0x0d),
        ],
        trampolines: Some(Trampolines { host_entry: 0 }),
        traps: vec![
            site(0, 0, TrapCode::HostError),
            site(2, 0x4a, TrapCode::IntegerDivideByZero),
            site(4, 0x10, TrapCode::StackOverflow),
        ],
        relocations: vec![
            Relocation {
                slot: 64,
                target: RelocTarget::Helper(Helper::MemoryGrow as u32),
            },
            Relocation {
                slot: 72,
                target: RelocTarget::ImportedFunc(0),
            },
        ],
        memories: vec![MemoryType {
            min_pages: 1,
            max_pages: Some(3),
        }],
        data: vec![DataSegment {
            mode: SegmentMode::Active {
                index: 0,
                offset: ConstExpr::I32(0),
            },
            bytes: vec![7, 8, 9],
        }],
        tables: vec![TableType {
            element: ValType::FuncRef,
            min: 3,
            max: None,
        }],
        elements: vec![ElementSegment {
            mode: SegmentMode::Active {
                index: 0,
                offset: ConstExpr::I32(0),
            },
            element: ValType::FuncRef,
            items: vec![
                ConstExpr::RefFunc(1),
                ConstExpr::RefNull(ValType::FuncRef),
                ConstExpr::RefFunc(0),
            ],
        }],
        exports: vec![
            export("call_host", 0),
            export("add", 1),
            export("div", 2),
            export("grow", 3),
            export("recurse", 4),
            export("load8", 5),
            export("bad_site", 6),
        ],
        func_names: vec![(2, "div".into())],
        ..Metadata::default()
    };
    // The hand-written code hard-codes these vmctx offsets.
    let layout = VmctxLayout::new(&metadata);
    assert_eq!(layout.helper(Helper::MemoryGrow), 64);
    assert_eq!(layout.imported_func_code(0), 72);
    assert_eq!(layout.imported_func_env(0), 80);
    metadata
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
    linker().instantiate(&load(&metadata(), &CODE)).unwrap()
}

fn expect_trap(result: Result<Vec<Val>, Error>) -> Trap {
    match result {
        Err(Error::Trap(trap)) => trap,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn calls_check_arguments_and_return_results() {
    let mut instance = instance();
    let args = [Val::I32(40), Val::I32(2)];
    assert_eq!(instance.call("add", &args).unwrap(), [Val::I32(42)]);
    let args = [Val::I32(-1), Val::I32(i32::MIN)];
    assert_eq!(instance.call("add", &args).unwrap(), [Val::I32(i32::MAX)]);

    let err = instance.call("add", &[Val::I32(1)]).unwrap_err();
    assert!(
        err.to_string().contains("expected 2 arguments, got 1"),
        "{err}"
    );
    let err = instance
        .call("add", &[Val::I32(1), Val::I64(2)])
        .unwrap_err();
    assert!(err.to_string().contains("argument 1"), "{err}");

    let add = instance.get_typed_func::<(i32, i32), i32>("add").unwrap();
    assert_eq!(add.call(&mut instance, (5, 6)).unwrap(), 11);
    let err = instance.get_typed_func::<i64, i32>("add").unwrap_err();
    let message = err.to_string();
    assert!(message.contains("[i32 i32] -> [i32]"), "{message}");
    assert!(message.contains("[i64] -> [i32]"), "{message}");

    // A typed handle works for every instance of its artifact, and only those.
    let mut second = linker().instantiate(instance.artifact()).unwrap();
    assert_eq!(add.call(&mut second, (1, 1)).unwrap(), 2);
    let mut other = instance_of_a_copy();
    let err = add.call(&mut other, (1, 1)).unwrap_err();
    assert!(err.message.contains("another artifact"), "{err}");
}

fn instance_of_a_copy() -> Instance {
    linker().instantiate(&load(&metadata(), &CODE)).unwrap()
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
    let args = [Val::I32(1), Val::I32(2)];
    assert_eq!(instance.call("add", &args).unwrap(), [Val::I32(3)]);
}

#[test]
fn host_functions_get_arguments_memory_and_can_trap() {
    let mut instance = instance();
    let call = |instance: &mut Instance, x| instance.call("call_host", &[Val::I32(x)]);
    assert_eq!(call(&mut instance, 21).unwrap(), [Val::I32(42)]);
    assert_eq!(call(&mut instance, 2).unwrap(), [Val::I32(7)]);
    assert_eq!(call(&mut instance, 3).unwrap(), [Val::I32(0)]);
    assert_eq!(instance.memory().unwrap()[1], 42);

    let trap = expect_trap(call(&mut instance, 0));
    assert_eq!(trap.code, TrapCode::HostError);
    assert_eq!(trap.to_string(), "zero (in function 0 'env.host')");

    let trap = expect_trap(call(&mut instance, 1));
    assert!(
        trap.message.contains("host function panicked: kaboom"),
        "{trap}"
    );
    assert_eq!(call(&mut instance, 5).unwrap(), [Val::I32(10)]);
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
                [Val::I32(x)] => Ok(vec![Val::I32(x + 1)]),
                _ => Err(Trap::new("bad arguments")),
            },
        )
        .unwrap();
    let mut instance = linker.instantiate(&load(&metadata(), &CODE)).unwrap();
    let host = instance.get_typed_func::<i32, i32>("call_host").unwrap();
    assert_eq!(host.call(&mut instance, 41).unwrap(), 42);
    let trap = host.call(&mut instance, 0).unwrap_err();
    assert!(trap.message.contains("returned [i64]"), "{trap}");
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
fn element_segments_fill_func_refs() {
    let instance = instance();
    let meta = instance.artifact().metadata();
    let base = instance.artifact().code_base();
    let table = &instance.state().tables[0];
    let add = table.get(0).unwrap();
    assert_eq!(add.code, base.wrapping_add(ADD as usize));
    assert_eq!(add.vmctx, instance.vmctx.ptr());
    assert_eq!(
        add.type_id,
        canonical_type_id(&meta.types[1]).unwrap() as u64
    );
    assert!(table.get(1).unwrap().code.is_null());
    assert_eq!(table.get(1).unwrap().type_id, 0);
    let stub = table.get(2).unwrap();
    assert_eq!(stub.code, base.wrapping_add(STUB as usize));
    assert_eq!(
        stub.type_id,
        canonical_type_id(&meta.types[0]).unwrap() as u64
    );
    let layout = instance.layout;
    assert_eq!(
        instance.vmctx.read_u32(layout.type_id(1)) as u64,
        add.type_id
    );
}

#[test]
fn start_function_traps_fail_instantiation() {
    let mut metadata = metadata();
    metadata.start = Some(2);
    let err = linker().instantiate(&load(&metadata, &CODE)).unwrap_err();
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
    assert_eq!(instance.state().depth, 0);

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
    let args = [Val::I32(1), Val::I32(2)];
    assert_eq!(instance.call("add", &args).unwrap(), [Val::I32(3)]);
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
    let artifact: Arc<_> = load(&metadata(), &CODE);
    let mut a = linker().instantiate(&artifact).unwrap();
    let b = linker().instantiate(&artifact).unwrap();
    a.memory_mut().unwrap()[0] = 1;
    assert_eq!(b.memory().unwrap()[0], 7);
    assert_ne!(a.vmctx.ptr(), b.vmctx.ptr());
}
