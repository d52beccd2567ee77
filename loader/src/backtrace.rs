//! Wasm backtraces, recorded by the `RecordTrap` helper every trap stub
//! calls before it unwinds (the wasm frames die at the unwind).
//!
//! The walk (see `CodeRange::frame_size` in the format): the trapping
//! frame's stack pointer and its function's frame size (for the trapping
//! frame, its trap site's: a stack-overflow trap comes before the frame is
//! built) give the address of its return address and the caller's stack
//! pointer, as the architecture lays frames out (`crate::arch::frame_step`;
//! x86-64: the return address at `sp + frame_size`, the caller's stack
//! pointer 8 bytes above); the return address lies in the caller's code,
//! the function whose code range contains it, and the caller's call site
//! (the call-site table, `Tables::call_wasm_offset`) gives the wasm offset of the call. The walk stops at a return address that
//! is not in the code of a function of an artifact of the store (the host
//! entry trampoline, or host code), after [`Trap::MAX_BACKTRACE`] frames, or
//! at an address outside the stack this entry into wasm uses: every
//! address is checked to lie between the trapping frame and the entry
//! trampoline's stack pointer (and within the thread's stack) before it is
//! read, so a confused walk stops instead of faulting.
//!
//! A call into another instance (an imported function) returns into the
//! caller's import stub: such frames are skipped, as they are no wasm
//! function; the walk goes on in the other artifact. An import stub is only
//! shown as the innermost frame, for a trap raised by the host function it
//! called.
//!
//! Names are looked up after the unwind, when the trap is reported.

use crate::prelude::*;
use vibewasm_format::vmctx::HOST_STATE;
use vibewasm_format::{ImportKind, Metadata, Tables};

use crate::arch;
use crate::artifact::Artifact;
use crate::instance::InstanceData;
use crate::raw::read_vmctx_ptr;
use crate::store::Objects;
use crate::trap::{Frame, Trap};

/// A frame as the walk records it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawFrame {
    /// Kept alive by the store's instances while the trap is reported.
    artifact: *const Artifact,
    func: u32,
    wasm_offset: Option<u32>,
}

/// Records the wasm call stack of the trap being raised into the store's
/// backtrace buffer.
///
/// # Safety
/// Only for the `RecordTrap` helper: `vmctx` is the live vmctx of the
/// instance whose code traps on this thread (which holds its store), the
/// runtime state's trap fields are set, and `sp` is the trapping frame's
/// stack pointer.
pub(crate) unsafe fn record(vmctx: *mut u8, sp: usize) {
    // SAFETY: guaranteed by the caller: HOST_STATE holds the instance's
    // data, owned by its store, which this thread holds.
    let data = unsafe { &*read_vmctx_ptr::<InstanceData>(vmctx, HOST_STATE) };
    // SAFETY: the store outlives its instances.
    let store = unsafe { &*data.store };
    // SAFETY: only the thread holding the store touches the buffer, and no
    // reference to it lives across a call into wasm (`take` runs after).
    let frames = unsafe { &mut *store.sandbox.backtrace.get() };
    frames.clear();
    let runtime = store.runtime.as_ptr();
    // SAFETY: the runtime state lives as long as the store; the trap stub
    // wrote it and is waiting for us.
    let (site, entry_sp) = unsafe { ((*runtime).trap_site, (*runtime).entry_sp) };
    // SAFETY: the store's objects are only changed by a thread holding the
    // store outside wasm; this thread holds it and is inside wasm, so they
    // are not changing, and no `&mut` to them is alive (see `StoreGuard`).
    let objects = unsafe { &*store.objects.get() };
    let mut stack = Stack {
        low: sp,
        high: entry_sp,
    };
    if let Some((low, high)) = crate::platform::stack_bounds() {
        stack.low = stack.low.max(low);
        stack.high = stack.high.min(high);
    }
    walk(frames, &data.artifact, objects, site, sp, stack);
}

/// The addresses the walk may read: `[low, high)`.
#[derive(Clone, Copy)]
struct Stack {
    low: usize,
    high: usize,
}

impl Stack {
    /// Reads the return address stored at `slot`, if it lies inside.
    fn read(&self, slot: usize) -> Option<usize> {
        if slot < self.low || !slot.is_multiple_of(8) || slot.checked_add(8)? > self.high {
            return None;
        }
        // SAFETY: the slot lies in the stack between the trapping frame and
        // the entry trampoline (checked above): live, mapped, 8-aligned.
        Some(unsafe { (slot as *const usize).read() })
    }
}

fn walk(
    out: &mut Vec<RawFrame>,
    first: &Artifact,
    objects: &Objects,
    site: u32,
    sp: usize,
    stack: Stack,
) {
    let Some(site) = first.tables().trap_for_number(site) else {
        return;
    };
    let mut artifact = first;
    let mut func = site.func;
    let imported = func < artifact.num_imported_funcs();
    out.push(RawFrame {
        artifact,
        func,
        wasm_offset: (!imported).then_some(site.wasm_offset),
    });
    let mut frame = sp;
    // The trapping frame may not be built yet (a stack-overflow site traps
    // in the prologue): its site says how far its return address is.
    let mut innermost = Some(site);
    // Bounded by the frames pushed and, for skipped import stubs, by the
    // stack: every step moves `frame` up by at least 8 bytes.
    while out.len() < Trap::MAX_BACKTRACE {
        let Some(range) = artifact.tables().function(func) else {
            return;
        };
        let frame_size = match innermost.take() {
            Some(site) => arch::trapping_frame_size(&site, &range),
            None => range.frame_size,
        };
        let Some(step) = arch::frame_step(frame, frame_size) else {
            return;
        };
        let Some(ret) = stack.read(step.return_address_slot) else {
            return;
        };
        if !artifact.contains_code(ret) {
            match find_artifact(objects, ret) {
                Some(other) => artifact = other,
                None => return,
            }
        }
        let offset = ret - artifact.code_base() as usize;
        // The host entry trampoline belongs to no function: the end.
        let Some(caller) = artifact.func_at(offset) else {
            return;
        };
        // Every step moves up the stack (the walk is bounded).
        if step.caller_sp <= frame {
            return;
        }
        frame = step.caller_sp;
        func = caller;
        if caller < artifact.num_imported_funcs() {
            continue;
        }
        let wasm_offset = u32::try_from(offset)
            .ok()
            .and_then(|offset| artifact.tables().call_wasm_offset(offset));
        out.push(RawFrame {
            artifact,
            func,
            wasm_offset,
        });
    }
}

/// The artifact of an instance of the store whose code contains `address`.
fn find_artifact(objects: &Objects, address: usize) -> Option<&Artifact> {
    objects.instances.iter().find_map(|data| {
        // SAFETY: the store owns its instances; they live as long as it.
        let artifact = unsafe { &(*data.as_ptr()).artifact };
        artifact.contains_code(address).then_some(&**artifact)
    })
}

/// The frames recorded for the last trap, with names.
///
/// # Safety
/// The caller holds the store whose buffer this is, no wasm runs, and the
/// frames were recorded by this store's `RecordTrap` (so their artifacts
/// are alive: the store's instances keep them).
pub(crate) unsafe fn take(buffer: &core::cell::UnsafeCell<Vec<RawFrame>>) -> Vec<Frame> {
    // SAFETY: guaranteed by the caller.
    let frames = unsafe { &mut *buffer.get() };
    let mut result: Vec<Frame> = Vec::with_capacity(frames.len());
    let mut previous: Option<&RawFrame> = None;
    for raw in frames.iter() {
        // Recursion repeats a function many times: look its name up once.
        let (func_name, module) = match (previous, result.last()) {
            (Some(p), Some(last)) if p.artifact == raw.artifact && p.func == raw.func => {
                (last.func_name.clone(), last.module.clone())
            }
            _ => {
                // SAFETY: guaranteed by the caller.
                let artifact = unsafe { &*raw.artifact };
                (
                    func_display_name(artifact.metadata(), &artifact.tables(), raw.func),
                    artifact.name().map(str::to_string),
                )
            }
        };
        result.push(Frame {
            func_index: raw.func,
            func_name,
            wasm_offset: raw.wasm_offset,
            module,
        });
        previous = Some(raw);
    }
    frames.clear();
    // A runaway recursion leaves thousands of frames: do not keep that much.
    if frames.capacity() > 1024 {
        frames.shrink_to(1024);
    }
    result
}

/// The name-section name of function `index`, or `module.name` for an import.
pub(crate) fn func_display_name(meta: &Metadata, tables: &Tables, index: u32) -> Option<String> {
    if let Some(name) = tables.func_name(index) {
        return Some(name.to_string());
    }
    meta.imports
        .iter()
        .filter(|i| matches!(i.kind, ImportKind::Func(_)))
        .nth(index as usize)
        .map(|i| format!("{}.{}", i.module, i.name))
}
