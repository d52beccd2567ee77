//! A running instance: its vmctx and state, calls into it, and what it exports.

use std::sync::Arc;

use vibewasm_format::vmctx::{VmctxLayout, STACK_LIMIT, TRAP_SITE};
use vibewasm_format::{ExternKind, FuncType, ImportKind, Metadata, TrapCode};

use crate::artifact::Artifact;
use crate::error::{CallError, Error};
use crate::func::{HostFunc, TypedFunc};
use crate::memory::LinearMemory;
use crate::raw::{RawBox, VmctxBuf};
use crate::stack;
use crate::table::Table;
use crate::trap::Trap;
use crate::values::{Val, WasmTypeList};

/// `extern "C" fn(vmctx, argv, code) -> u32`: the artifact's host entry trampoline.
type HostEntryFn = unsafe extern "C" fn(*mut u8, *mut u64, *const u8) -> u32;

/// Per-instance state the host-call shim and runtime helpers reach through
/// `vmctx.host_state` while wasm runs.
pub(crate) struct InstanceState {
    pub(crate) memory: Option<LinearMemory>,
    /// Tables, imported ones first (none yet). Kept here so a future
    /// `table.grow` helper finds them like `memory_grow` finds the memory.
    pub(crate) tables: Vec<Table>,
    /// The trap of the host function that failed in the current call.
    pub(crate) pending_trap: Option<Trap>,
    /// How many host->wasm entries are active (nested ones keep the stack
    /// limit of the outermost).
    pub(crate) depth: u32,
    pub(crate) max_wasm_stack: usize,
}

/// An instantiated artifact. Created by [`crate::Linker::instantiate`].
///
/// Calls take `&mut self`: wasm code writes the instance's memory and
/// globals, so no borrow of them may be alive meanwhile. An instance stays
/// usable after a trap.
pub struct Instance {
    // Generated code and table entries point into these three; the
    // instance owns them and frees them only when it is dropped.
    pub(crate) vmctx: VmctxBuf,
    pub(crate) state: RawBox<InstanceState>,
    /// Keep every imported host function alive: the vmctx holds raw
    /// pointers to them as `env`.
    pub(crate) host_funcs: Vec<Arc<HostFunc>>,
    pub(crate) artifact: Arc<Artifact>,
    pub(crate) layout: VmctxLayout,
}

// SAFETY: everything the raw pointers reach (vmctx, state, memory, tables)
// is owned by this instance alone, and host functions are `Send + Sync`.
// Nothing is tied to the creating thread: the stack limit is recomputed on
// the calling thread at every outermost entry.
unsafe impl Send for Instance {}

impl Instance {
    pub(crate) fn state(&self) -> &InstanceState {
        // SAFETY: the state lives as long as `self`; wasm only runs inside
        // `invoke`, which holds `&mut self` and no reference to the state
        // while generated code runs.
        unsafe { &*self.state.as_ptr() }
    }

    pub(crate) fn state_mut(&mut self) -> &mut InstanceState {
        // SAFETY: as in `state`, exclusive through `&mut self`.
        unsafe { &mut *self.state.as_ptr() }
    }

    pub fn artifact(&self) -> &Arc<Artifact> {
        &self.artifact
    }

    /// The name and kind of every export, in module order.
    pub fn exports(&self) -> impl Iterator<Item = (&str, ExternKind)> + '_ {
        self.artifact
            .metadata()
            .exports
            .iter()
            .map(|e| (e.name.as_str(), e.kind))
    }

    /// Memory 0 (exported or not), if the module has one.
    pub fn memory(&self) -> Option<&[u8]> {
        self.state().memory.as_ref().map(|m| m.as_slice())
    }

    /// Memory 0, writable.
    pub fn memory_mut(&mut self) -> Option<&mut [u8]> {
        self.state_mut().memory.as_mut().map(|m| m.as_mut_slice())
    }

    /// How much stack wasm may use below the point where it is entered
    /// (defaults to the linker's [`crate::Linker::max_wasm_stack`]).
    pub fn set_max_wasm_stack(&mut self, bytes: usize) {
        self.state_mut().max_wasm_stack = bytes;
    }

    /// Most pages memory 0 may grow to in this instance (never beyond its
    /// type's maximum).
    pub fn set_memory_limit_pages(&mut self, pages: u64) {
        if let Some(memory) = self.state_mut().memory.as_mut() {
            memory.set_limit_pages(pages);
        }
    }

    /// The current value of the exported global `name`.
    pub fn global(&self, name: &str) -> Option<Val> {
        let meta = self.artifact.metadata();
        let export = meta
            .exports
            .iter()
            .find(|e| e.name == name && e.kind == ExternKind::Global)?;
        let ty = meta.global_type(export.index)?;
        if self.layout.global_is_imported(export.index) {
            return None; // imported globals are not supported yet
        }
        Val::from_slot(ty.ty, self.vmctx.read_u64(self.layout.global(export.index)))
    }

    /// Index and signature of the exported function `name`.
    pub fn func_export(&self, name: &str) -> Result<(u32, &FuncType), CallError> {
        let meta = self.artifact.metadata();
        let export = meta
            .exports
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| CallError::NoSuchExport(name.to_string()))?;
        if export.kind != ExternKind::Func {
            return Err(CallError::NotAFunction {
                name: name.to_string(),
                kind: export.kind,
            });
        }
        let ty = meta
            .func_type(export.index)
            .ok_or_else(|| CallError::NoSuchExport(name.to_string()))?;
        Ok((export.index, ty))
    }

    /// Calls the exported function `name` with `args`, checked against its
    /// signature.
    pub fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        let (index, ty) = self.func_export(name)?;
        let ty = ty.clone();
        check_supported(name, &ty)?;
        if args.len() != ty.params.len() {
            return Err(CallError::ArgumentCount {
                name: name.to_string(),
                expected: ty.params.len(),
                found: args.len(),
                ty,
            }
            .into());
        }
        if let Some((i, (arg, expected))) = args
            .iter()
            .zip(&ty.params)
            .enumerate()
            .find(|(_, (a, t))| a.ty() != **t)
        {
            return Err(CallError::ArgumentType {
                name: name.to_string(),
                index: i,
                expected: *expected,
                found: arg.ty(),
                ty: ty.clone(),
            }
            .into());
        }
        let mut argv = vec![0u64; ty.params.len().max(ty.results.len()).max(1)];
        for (slot, arg) in argv.iter_mut().zip(args) {
            *slot = arg.to_slot();
        }
        self.invoke(index, &mut argv)?;
        Ok(ty
            .results
            .iter()
            .zip(&argv)
            .filter_map(|(t, slot)| Val::from_slot(*t, *slot))
            .collect())
    }

    /// A typed handle to the exported function `name`, whose signature must
    /// be exactly `Params -> Results`.
    pub fn get_typed_func<Params: WasmTypeList, Results: WasmTypeList>(
        &self,
        name: &str,
    ) -> Result<TypedFunc<Params, Results>, Error> {
        let (index, ty) = self.func_export(name)?;
        let requested = FuncType {
            params: Params::types(),
            results: Results::types(),
        };
        if *ty != requested {
            return Err(CallError::TypeMismatch {
                name: name.to_string(),
                found: ty.clone(),
                requested,
            }
            .into());
        }
        Ok(TypedFunc::new(self.artifact.clone(), index))
    }

    /// Runs function `func` with `argv` (at least `max(params, results, 1)`
    /// slots, arguments already stored); the results replace the arguments.
    pub(crate) fn invoke(&mut self, func: u32, argv: &mut [u64]) -> Result<(), Trap> {
        let meta = self.artifact.metadata();
        let base = self.artifact.code_base();
        let (Some(range), Some(trampolines)) =
            (meta.functions.get(func as usize), meta.trampolines)
        else {
            return Err(Trap::internal(format!("function {func} has no code")));
        };
        if base.is_null() || argv.is_empty() {
            return Err(Trap::internal("call without code or argument slots"));
        }
        // Format validation checked both offsets against the code length.
        let code = base.wrapping_add(range.offset as usize);
        let entry_addr = base.wrapping_add(trampolines.host_entry as usize);

        let state = self.state();
        if state.depth == 0 {
            // Outermost entry: set the limit for this thread's stack.
            // Nested entries (wasm -> host -> wasm) keep it.
            let Some(limit) = stack::wasm_stack_limit(state.max_wasm_stack) else {
                return Err(Trap::from_code(TrapCode::StackOverflow));
            };
            self.vmctx.write_u64(STACK_LIMIT, limit as u64);
        }
        let state = self.state_mut();
        state.pending_trap = None;
        state.depth += 1;

        // SAFETY: `entry_addr` is the host entry trampoline inside the
        // executable code mapping, which has this exact C signature (the
        // artifact ABI; the artifact passed all format checks and is trusted
        // to follow it). Its arguments: the live, fully initialised vmctx of
        // this instance; `argv` with enough slots for `func`'s signature
        // (callers check it); and `code`, the entry of `func`. No Rust
        // reference to the vmctx, state, memory or tables is alive across
        // the call.
        let status = unsafe {
            let entry = std::mem::transmute::<*const u8, HostEntryFn>(entry_addr);
            entry(self.vmctx.ptr(), argv.as_mut_ptr(), code)
        };

        self.state_mut().depth -= 1;
        if status == 0 {
            Ok(())
        } else {
            Err(self.take_trap())
        }
    }

    /// The trap generated code just reported through `vmctx.trap_site`.
    fn take_trap(&mut self) -> Trap {
        let site_index = self.vmctx.read_u32(TRAP_SITE);
        let pending = self.state_mut().pending_trap.take();
        let meta = self.artifact.metadata();
        let Some(site) = meta.traps.get(site_index as usize) else {
            return Trap::internal(format!(
                "generated code reported trap site {site_index}, but the artifact has {}",
                meta.traps.len()
            ));
        };
        let mut trap = match site.code {
            TrapCode::HostError => {
                pending.unwrap_or_else(|| Trap::internal("a host function failed without an error"))
            }
            code => Trap::from_code(code),
        };
        if trap.func.is_none() {
            let imported = site.func < self.layout.num_imported_funcs;
            trap.func = Some(site.func);
            trap.func_name = func_display_name(meta, site.func);
            // Import stubs have no wasm code of their own.
            trap.wasm_offset = (!imported).then_some(site.wasm_offset);
        }
        trap
    }
}

/// The name-section name of function `index`, or `module.name` for an import.
fn func_display_name(meta: &Metadata, index: u32) -> Option<String> {
    if let Some(name) = meta.func_name(index) {
        return Some(name.to_string());
    }
    meta.imports
        .iter()
        .filter(|i| matches!(i.kind, ImportKind::Func(_)))
        .nth(index as usize)
        .map(|i| format!("{}.{}", i.module, i.name))
}

fn check_supported(name: &str, ty: &FuncType) -> Result<(), CallError> {
    let unsupported = ty
        .params
        .iter()
        .chain(&ty.results)
        .find(|t| !Val::supports(**t));
    match unsupported {
        Some(&t) => Err(CallError::UnsupportedType {
            name: name.to_string(),
            ty: ty.clone(),
            unsupported: t,
        }),
        None => Ok(()),
    }
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("artifact", &self.artifact)
            .field("vmctx", &self.vmctx.ptr())
            .field("memory_bytes", &self.memory().map(<[u8]>::len))
            .finish()
    }
}
