//! Guard-page faults in hand-written code: an access at a fault site that
//! lands in its memory's reservation becomes an "out of bounds" trap; one
//! whose address lies outside every memory reservation (what a miscompile
//! would do) aborts the process with a message instead of becoming a trap.
//!
//! The code is hand-assembled per architecture (`x86_64_code`,
//! `aarch64_code`): the "trampoline" jumps to the function (its third
//! argument), each function is a C function `(vmctx, argv) -> u32`, and
//! the trap path records the site number the handler put in the
//! trap-site register (`vibewasm_format::TRAP_SITE_REGISTER_*`: `esi`,
//! `w1`) in the runtime state and returns 1.

use std::sync::Arc;

#[cfg(target_arch = "x86_64")]
use vibewasm_format::vmctx::MEMORY_DEF_BASE;
use vibewasm_format::vmctx::{MEMORY0, RUNTIME, RUNTIME_TRAP_SITE, RUNTIME_TRAP_VMCTX};
use vibewasm_format::{
    CodeRange, Export, ExternKind, FaultSite, MemoryType, Metadata, SiteTables, Trampolines,
    TrapCode, ValType,
};

use super::{func_type, load_with};
use crate::{Artifact, Error, Linker, Val};

/// The hand-written code: the offsets of its two functions, of their end,
/// of the trap path, and the code range of each function's one unchecked
/// access.
struct Code {
    bytes: Vec<u8>,
    load_mem: u32,
    load_abs: u32,
    end: u32,
    trap_path: u32,
    mem_site: (u32, u32),
    abs_site: (u32, u32),
}

/// `load_mem(addr)` reads byte `addr` of memory 0 and `load_abs(addr)`
/// reads the byte at absolute address `addr`, each with one unchecked
/// access.
#[cfg(target_arch = "x86_64")]
fn code() -> Code {
    use super::asm::*;
    let mut a = Asm::default();
    a.jmp_reg(RDX); // the "trampoline"

    // 0: load_mem: movzbl (base,%rcx),%eax with rcx = the zero-extended arg.
    let load_mem = a.align();
    a.load(RAX, RDI, MEMORY0);
    a.load(RAX, RAX, MEMORY_DEF_BASE);
    a.load32(RCX, RSI, 0);
    let mem_site = a.offset();
    a.raw(&[0x0f, 0xb6, 0x04, 0x08]); // movzbl (%rax,%rcx),%eax
    let mem_site_end = a.offset();
    a.store(RSI, 0, RAX);
    a.raw(&[0x31, 0xc0]); // xor %eax,%eax
    a.ret();

    // 1: load_abs: movzbl (%rcx),%eax, an address outside any memory.
    let load_abs = a.align();
    a.load32(RCX, RSI, 0);
    let abs_site = a.offset();
    a.raw(&[0x0f, 0xb6, 0x01]); // movzbl (%rcx),%eax
    let abs_site_end = a.offset();
    a.store(RSI, 0, RAX);
    a.raw(&[0x31, 0xc0]); // xor %eax,%eax
    a.ret();
    let end = a.align();

    // The shared trap path: the fault handler resumes here with the
    // site's number in esi.
    let trap_path = a.align();
    a.load(RAX, RDI, RUNTIME);
    a.store32(RAX, RUNTIME_TRAP_SITE, RSI);
    a.store(RAX, RUNTIME_TRAP_VMCTX, RDI);
    a.mov_imm32(RAX, 1);
    a.ret();
    Code {
        bytes: a.finish(),
        load_mem,
        load_abs,
        end,
        trap_path,
        mem_site: (mem_site, mem_site_end),
        abs_site: (abs_site, abs_site_end),
    }
}

/// As for x86-64: vmctx in x0, argv in x1, the return address in x30
/// (leaf functions: no frame), the trap-site register x1.
#[cfg(target_arch = "aarch64")]
fn code() -> Code {
    use super::asm_aarch64::*;
    const _: () = assert!(vibewasm_format::TRAP_SITE_REGISTER_AARCH64 as u32 == X1);
    let mut a = Asm::default();
    a.br(X2); // the "trampoline"

    // 0: load_mem: ldrb w10, [x8, x9] with x8 the memory's base and x9
    // the zero-extended argument.
    let load_mem = a.align();
    a.load(X8, X0, MEMORY0);
    a.load(X8, X8, vibewasm_format::vmctx::MEMORY_DEF_BASE);
    a.load32(X9, X1, 0);
    let mem_site = a.offset();
    a.load8_indexed(X10, X8, X9);
    let mem_site_end = a.offset();
    a.store(X1, 0, X10);
    a.mov_imm16(X0, 0);
    a.ret();

    // 1: load_abs: ldrb w10, [x9], an address outside any memory.
    let load_abs = a.align();
    a.load32(X9, X1, 0);
    let abs_site = a.offset();
    a.load8(X10, X9, 0);
    let abs_site_end = a.offset();
    a.store(X1, 0, X10);
    a.mov_imm16(X0, 0);
    a.ret();
    let end = a.align();

    // The shared trap path: the fault handler resumes here with the
    // site's number in x1; x0 still holds vmctx and x30 the return address.
    let trap_path = a.align();
    a.load(X8, X0, RUNTIME);
    a.store32(X8, RUNTIME_TRAP_SITE, X1);
    a.store(X8, RUNTIME_TRAP_VMCTX, X0);
    a.mov_imm16(X0, 1);
    a.ret();
    Code {
        bytes: a.finish(),
        load_mem,
        load_abs,
        end,
        trap_path,
        mem_site: (mem_site, mem_site_end),
        abs_site: (abs_site, abs_site_end),
    }
}

/// The artifact of [`code`]: each unchecked access listed as a fault site
/// whose stub traps with "out of bounds memory access".
fn artifact() -> Arc<Artifact> {
    let Code {
        bytes,
        load_mem,
        load_abs,
        end,
        trap_path,
        mem_site,
        abs_site,
    } = code();
    let site = |(start, end): (u32, u32), wasm_offset| FaultSite {
        start,
        len: (end - start) as u8,
        wasm_offset,
        code: TrapCode::MemoryOutOfBounds,
    };
    let export = |name: &str, index| Export {
        name: name.into(),
        kind: ExternKind::Func,
        index,
    };
    let metadata = Metadata {
        types: vec![func_type(&[ValType::I32], &[ValType::I32])],
        func_types: vec![0, 0],
        memories: vec![MemoryType {
            min_pages: 1,
            max_pages: Some(1),
            index64: false,
        }],
        exports: vec![export("load_mem", 0), export("load_abs", 1)],
        trampolines: Some(Trampolines {
            host_entry: 0,
            trap_path,
        }),
        ..Metadata::default()
    };
    // Frame sizes do not matter here: no trap path records a backtrace.
    let tables = SiteTables {
        functions: vec![
            CodeRange {
                offset: load_mem,
                len: load_abs - load_mem,
                frame_size: 8,
            },
            CodeRange {
                offset: load_abs,
                len: end - load_abs,
                frame_size: 8,
            },
        ],
        fault_sites: vec![site(mem_site, 0x20), site(abs_site, 0x21)],
        ..SiteTables::default()
    };
    load_with(&metadata, &tables, &bytes)
}

fn load_byte(name: &str, address: u32) -> Result<Vec<Val>, Error> {
    let mut instance = Linker::new().instantiate_artifact(&artifact()).unwrap();
    instance.call(name, &[Val::I32(address as i32)])
}

#[test]
fn a_fault_inside_the_reservation_is_a_trap() {
    assert_eq!(load_byte("load_mem", 65535).unwrap(), vec![Val::I32(0)]);
    for address in [65536, 65537, 0x1000_0000, u32::MAX] {
        match load_byte("load_mem", address) {
            Err(Error::Trap(trap)) => {
                assert_eq!(trap.code, TrapCode::MemoryOutOfBounds, "{address:#x}");
                // From the fault site's record, found by the faulting pc.
                assert_eq!((trap.func, trap.wasm_offset), (Some(0), Some(0x20)));
            }
            other => panic!("{address:#x}: expected a trap, got {other:?}"),
        }
    }
}

/// Set in the child process of the abort test.
const CHILD_ENV: &str = "VIBEWASM_FAULT_SITES_CHILD";

/// A fault at a fault site outside every memory reservation is no wasm
/// trap but a code generation bug: the handler says so on stderr and
/// aborts (as wasmtime does), rather than resuming at the trap stub.
#[test]
fn a_fault_site_outside_every_reservation_aborts() {
    if std::env::var_os(CHILD_ENV).is_some() {
        // No core file for the expected abort.
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit with a valid rlimit.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
        // Address 16: mapped by no one, and in no memory's reservation.
        let result = load_byte("load_abs", 16);
        eprintln!("the handler let the call go on: {result:?}");
        std::process::exit(0);
    }
    let out = super::run_self(
        &[
            "--exact",
            "tests::fault_sites::a_fault_site_outside_every_reservation_aborts",
            "--nocapture",
            "--test-threads=1",
        ],
        (CHILD_ENV, "1"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(
        stderr.contains("outside every linear memory reservation"),
        "{stderr}"
    );
    assert!(stderr.contains("address 0x10"), "{stderr}");
    assert!(
        !stderr.contains("the handler let the call go on"),
        "{stderr}"
    );
}
