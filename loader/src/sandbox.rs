//! Bounding the time guest code runs: fuel and epochs.
//!
//! Both are compile options recorded in the artifact (`vibewasmc compile
//! --fuel`, `--epoch`); code compiled without them contains no check and
//! pays nothing. Every store provides both, so any artifact runs in any store.
//!
//! # Fuel
//!
//! A per-store budget ([`Store::set_fuel`]) that code compiled with fuel
//! metering consumes deterministically: **every executed wasm operator
//! except `block`, `loop`, `else` and `end` costs one unit**, charged at the end of each straight-line region
//! (before a branch, call, return or block boundary) for all operators of
//! the region at once. When a charge finds less fuel left than the region
//! costs, the code traps with "out of fuel" at that point; the region's
//! operators may have run, the rest of the function does not. The same
//! call with the same fuel always stops at the same place and leaves the
//! same amount. A store starts with no fuel (fuel-metered code traps at
//! once); the host sets or adds fuel and calls again to go on (a trapped
//! call is not resumed: its frames are gone). Imported host functions and
//! runtime helpers (`memory.grow`, `memory.copy`, ...) cost only their
//! operator.
//!
//! # Epochs
//!
//! An [`EpochCounter`] is a number other threads increment
//! ([`EpochCounter::increment`], one atomic add, callable from anywhere,
//! also a signal handler). Code compiled with epoch checks reads it at every
//! function entry and loop head and traps with "interrupted" once it
//! reached the store's deadline ([`Store::set_epoch_deadline`], in ticks
//! from now; no deadline by default). A watchdog thread that sleeps and
//! then increments thus stops a runaway guest within one loop iteration or
//! call of the increment: microseconds, not a time slice. Several stores
//! (all of an engine's, say) can share one counter
//! ([`Store::set_epoch_counter`]); each store starts with a counter of its
//! own.

use crate::prelude::*;
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::sync::Mutex;

use vibewasm_format::vmctx::{RuntimeState, RUNTIME};

use crate::backtrace::RawFrame;
use crate::error::AccessError;
use crate::func::Caller;
use crate::raw::read_vmctx_ptr;
use crate::store::Store;

/// A shared epoch counter; clones are handles to the same counter.
#[derive(Clone, Debug, Default)]
pub struct EpochCounter(Arc<AtomicU64>);

impl EpochCounter {
    pub fn new() -> EpochCounter {
        EpochCounter::default()
    }

    /// Advances the epoch by one tick and returns the new value. Guests of
    /// every store using this counter whose deadline it reaches stop at
    /// their next function entry or loop head.
    pub fn increment(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The current epoch.
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Whether `a` and `b` are handles to the same counter.
    pub fn same(a: &EpochCounter, b: &EpochCounter) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// What generated code reads (plain 8-byte loads, atomic on the
    /// supported targets).
    fn as_ptr(&self) -> *const u64 {
        self.0.as_ptr()
    }
}

/// The fuel counter of the runtime state at `runtime`, as an atomic.
///
/// Every access from Rust goes through this, so none races: `Store::fuel`
/// reads it from any thread (without taking the store) while the thread
/// holding the store writes it (`Store::set_fuel`/`add_fuel`, or
/// `Caller::set_fuel` from a host function). Generated code charges fuel
/// with one plain read-modify-write instruction on the same 8-byte aligned
/// location (`sub qword [runtime + RUNTIME_FUEL], cost`), only on the
/// thread holding the store, so it never races with another writer; on
/// x86-64 an aligned 8-byte access is single-copy atomic, so a concurrent
/// `Store::fuel` sees the value before or after it, never a torn one (the
/// same guarantee a relaxed atomic store gives). On aarch64 aligned 8-byte
/// loads and stores are single-copy atomic too; there the charge is a
/// load, a subtract and a store, still by that one writer. Relaxed
/// ordering is enough: the counter publishes no other data.
///
/// # Safety
/// `runtime` must point to a live `RuntimeState` for all of `'a`.
unsafe fn fuel_cell<'a>(runtime: *mut RuntimeState) -> &'a AtomicI64 {
    // SAFETY: the field is an 8-byte aligned i64 inside a live allocation
    // (caller's guarantee); `AtomicI64` has the same size and alignment,
    // and every Rust access to it is atomic (this function is the only way).
    unsafe { AtomicI64::from_ptr(core::ptr::addr_of_mut!((*runtime).fuel)) }
}

/// Per-store state for fuel, epochs and backtraces.
pub(crate) struct Sandbox {
    /// The counter `RuntimeState::epoch_counter` points to; kept alive here.
    epoch: Mutex<EpochCounter>,
    /// Frames recorded by the `RecordTrap` helper for the trap being raised;
    /// only touched by the thread holding the store.
    pub(crate) backtrace: UnsafeCell<Vec<RawFrame>>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
            epoch: Mutex::new(EpochCounter::new()),
            backtrace: UnsafeCell::new(Vec::new()),
        }
    }
}

impl Sandbox {
    fn counter(&self) -> EpochCounter {
        self.epoch.lock().clone()
    }

    /// The epoch counter's address, for `RuntimeState::epoch_counter`. It
    /// stays valid until the counter is replaced (under the store).
    pub(crate) fn counter_ptr(&self) -> *const u64 {
        self.epoch.lock().as_ptr()
    }
}

impl Store {
    /// Sets the fuel left to `fuel` (at most `i64::MAX`). Code compiled with
    /// fuel metering consumes it and traps with "out of fuel" when it runs
    /// out. Cost model: every executed wasm operator except `block`,
    /// `loop`, `else` and `end` costs one unit,
    /// charged at the end of each straight-line region (before a branch,
    /// call, return or block boundary) for the whole region; host functions
    /// and runtime helpers cost only their operator. Deterministic: the same
    /// call with the same fuel stops at the same place. A store starts with
    /// no fuel.
    ///
    /// Fails if the store is busy (running wasm on another thread, or the
    /// caller is a host function called from this store's wasm).
    pub fn set_fuel(&self, fuel: u64) -> Result<(), AccessError> {
        let guard = self.enter()?;
        let fuel = fuel.min(i64::MAX as u64) as i64;
        // SAFETY: the runtime state lives as long as the store.
        unsafe { fuel_cell(guard.runtime()) }.store(fuel, Ordering::Relaxed);
        Ok(())
    }

    /// Adds `fuel` to what is left (saturating) and returns the new amount.
    /// Fails like [`Store::set_fuel`].
    pub fn add_fuel(&self, fuel: u64) -> Result<u64, AccessError> {
        let guard = self.enter()?;
        // SAFETY: as in `set_fuel`.
        let cell = unsafe { fuel_cell(guard.runtime()) };
        // Holding the store makes this thread the only writer (no wasm of
        // the store runs meanwhile), so a load and a store do not lose an
        // update; other threads only read.
        let left = cell.load(Ordering::Relaxed).max(0);
        let new = left.saturating_add(fuel.min(i64::MAX as u64) as i64);
        cell.store(new, Ordering::Relaxed);
        Ok(new as u64)
    }

    /// The fuel left. After an "out of fuel" trap this is what the last
    /// region could not pay for (less than its cost; never negative). While
    /// wasm runs on another thread it is a snapshot.
    pub fn fuel(&self) -> u64 {
        // SAFETY: the runtime state lives as long as the store. Generated
        // code on another thread may be charging fuel meanwhile: see
        // `fuel_cell` for why that is no race.
        let fuel = unsafe { fuel_cell(self.inner.runtime.as_ptr()) }.load(Ordering::Relaxed);
        fuel.max(0) as u64
    }

    /// A handle to the epoch counter this store's code checks (its own
    /// unless [`Store::set_epoch_counter`] gave it another). Increment it
    /// from any thread to interrupt code compiled with epoch checks.
    pub fn epoch_counter(&self) -> EpochCounter {
        self.inner.sandbox.counter()
    }

    /// Makes the store's code check `counter` (e.g. one counter for all the
    /// stores of an engine). The deadline is not changed: set it again,
    /// relative to the new counter. Fails if the store is busy.
    pub fn set_epoch_counter(&self, counter: &EpochCounter) -> Result<(), AccessError> {
        let guard = self.enter()?;
        let sandbox = &self.inner.sandbox;
        *sandbox.epoch.lock() = counter.clone();
        // SAFETY: as in `set_fuel`. The counter just stored is kept alive by
        // the store until replaced, again under the store.
        unsafe { (*guard.runtime()).epoch_counter = counter.as_ptr() };
        Ok(())
    }

    /// Interrupts code compiled with epoch checks once the store's epoch
    /// counter has advanced `ticks_from_now` times from its current value
    /// (0: at the next check). Fails if the store is busy.
    pub fn set_epoch_deadline(&self, ticks_from_now: u64) -> Result<(), AccessError> {
        let guard = self.enter()?;
        let counter = self.inner.sandbox.counter();
        let deadline = counter.current().saturating_add(ticks_from_now);
        // SAFETY: as in `set_fuel`.
        unsafe {
            (*guard.runtime()).epoch_counter = counter.as_ptr();
            (*guard.runtime()).epoch_deadline = deadline;
        }
        Ok(())
    }

    /// Removes the epoch deadline (the default): code with epoch checks
    /// then runs until it returns. Fails if the store is busy.
    pub fn clear_epoch_deadline(&self) -> Result<(), AccessError> {
        let guard = self.enter()?;
        // SAFETY: as in `set_fuel`.
        unsafe { (*guard.runtime()).epoch_deadline = u64::MAX };
        Ok(())
    }
}

impl Caller<'_> {
    /// The fuel left in the calling store (see [`Store::fuel`]).
    pub fn fuel(&self) -> u64 {
        // SAFETY: the caller's store (and so its runtime state) is alive
        // and held by this thread, whose wasm is suspended in this host call.
        let fuel = unsafe { fuel_cell(self.runtime()) }.load(Ordering::Relaxed);
        fuel.max(0) as u64
    }

    /// Sets the fuel left in the calling store (at most `i64::MAX`), e.g.
    /// to charge for the host function's own work or to stop the guest at
    /// its next charge (with 0). [`Store::set_fuel`] cannot be used here:
    /// the store is busy running the caller.
    pub fn set_fuel(&mut self, fuel: u64) {
        // SAFETY: as in `fuel`. Other threads may be reading it
        // (`Store::fuel`): the store is atomic.
        unsafe { fuel_cell(self.runtime()) }
            .store(fuel.min(i64::MAX as u64) as i64, Ordering::Relaxed);
    }

    fn runtime(&self) -> *mut RuntimeState {
        // SAFETY: the vmctx of the calling instance is live while it calls
        // us; its RUNTIME slot points to its store's runtime state.
        unsafe { read_vmctx_ptr::<RuntimeState>(self.vmctx(), RUNTIME) }
    }

    /// Whether the calling store's epoch deadline
    /// ([`Store::set_epoch_deadline`]) has passed. A host function that
    /// blocks (waits for input, sleeps) checks it now and then and, once it
    /// has, returns `Err(Trap::from_code(TrapCode::Interrupted))`, so that
    /// the deadline stops the guest in the host function too, as it would
    /// in code compiled with epoch checks.
    ///
    /// [`Trap::from_code`]: crate::Trap::from_code
    /// [`TrapCode::Interrupted`]: vibewasm_format::TrapCode::Interrupted
    pub fn epoch_deadline_reached(&self) -> bool {
        self.epoch_deadline().reached()
    }
}

impl<'a> Caller<'a> {
    /// The calling store's epoch counter and deadline, for as long as the
    /// host call lasts (`'a`): a host function may hold it while it borrows
    /// the caller's memory.
    pub(crate) fn epoch_deadline(&self) -> EpochDeadline<'a> {
        let runtime = self.runtime();
        // SAFETY: the runtime state is alive for the host call, and this
        // thread holds the store, so nothing writes these fields meanwhile
        // (`Store::set_epoch_deadline`/`set_epoch_counter` take the store).
        let (counter, deadline) = unsafe { ((*runtime).epoch_counter, (*runtime).epoch_deadline) };
        EpochDeadline {
            counter: counter.cast(),
            deadline,
            _call: PhantomData,
        }
    }
}

/// A store's epoch deadline as seen during one host call (see
/// [`Caller::epoch_deadline`]). The counter may advance meanwhile (other
/// threads increment it); the deadline and the counter in use cannot change
/// while the host call holds the store.
#[derive(Clone, Copy)]
pub(crate) struct EpochDeadline<'a> {
    /// The store's `EpochCounter`, kept alive by the store (`Sandbox`)
    /// until it is replaced, which needs the store; null if none was set.
    counter: *const AtomicU64,
    deadline: u64,
    _call: PhantomData<&'a ()>,
}

impl EpochDeadline<'_> {
    /// Whether the deadline can never be reached during this host call (the
    /// store has none: nothing can set one while the call holds the store).
    #[cfg_attr(not(feature = "wasi"), allow(dead_code))]
    pub(crate) fn never(&self) -> bool {
        self.counter.is_null() || self.deadline == u64::MAX
    }

    /// Whether the counter reached the deadline (the test generated code
    /// makes at function entries and loop heads).
    pub(crate) fn reached(&self) -> bool {
        if self.counter.is_null() {
            return false;
        }
        // SAFETY: a non-null counter is the store's live `EpochCounter`
        // (an `AtomicU64`), which outlives the host call (see the field).
        let now = unsafe { &*self.counter }.load(Ordering::SeqCst);
        now >= self.deadline
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn fuel_is_set_added_and_clamped() {
        let store = Store::default();
        assert_eq!(store.fuel(), 0);
        store.set_fuel(10).unwrap();
        assert_eq!(store.fuel(), 10);
        assert_eq!(store.add_fuel(5).unwrap(), 15);
        store.set_fuel(u64::MAX).unwrap();
        assert_eq!(store.fuel(), i64::MAX as u64);
        assert_eq!(store.add_fuel(u64::MAX).unwrap(), i64::MAX as u64);
        // What generated code leaves after running out reads as 0.
        // SAFETY: the store's runtime state is alive.
        unsafe { fuel_cell(store.inner.runtime.as_ptr()) }.store(-3, Ordering::Relaxed);
        assert_eq!(store.fuel(), 0);
        assert_eq!(store.add_fuel(2).unwrap(), 2);
        let guard = store.enter().unwrap();
        assert_eq!(store.set_fuel(1), Err(AccessError::StoreBusy));
        drop(guard);
    }

    /// `Store::fuel` polls from one thread while another sets and adds fuel
    /// through the store and through a `Caller` (as a host function does
    /// while its wasm is suspended). Every access must be atomic: under
    /// Miri (`MIRIFLAGS=-Zmiri-permissive-provenance cargo +nightly miri
    /// test -p vibewasm-loader --lib fuel_`), a plain write racing with the
    /// reader's atomic load is reported as a data race (undefined behaviour).
    /// Natively such a race does not show on x86-64 (aligned 8-byte moves
    /// do not tear), but the test still checks that no read sees a value
    /// nobody wrote: each one written has equal halves.
    #[test]
    fn fuel_is_read_while_another_thread_sets_it() {
        use core::sync::atomic::AtomicBool;
        let rounds: u64 = if cfg!(miri) { 20 } else { 20_000 };
        let pattern = |k: u64| k << 32 | k;
        let store = Store::default();
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (store, done) = (store.clone(), done.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !done.load(Ordering::SeqCst) || reads == 0 {
                    let fuel = store.fuel();
                    assert_eq!(fuel >> 32, fuel & 0xffff_ffff, "torn read {fuel:#x}");
                    reads += 1;
                }
                reads
            })
        };
        let writer = {
            let store = store.clone();
            std::thread::spawn(move || {
                for k in 0..rounds {
                    store.set_fuel(pattern(k)).unwrap();
                    assert_eq!(store.add_fuel(0).unwrap(), pattern(k));
                }
                // A host function's view: the store is busy running wasm
                // whose vmctx points to the store's runtime state.
                let guard = store.enter().unwrap();
                let mut vmctx = [0usize; 8];
                vmctx[(vibewasm_format::vmctx::RUNTIME / 8) as usize] = guard.runtime() as usize;
                let mut caller = Caller::for_test(vmctx.as_mut_ptr().cast(), store.id());
                for k in 0..rounds {
                    caller.set_fuel(pattern(k));
                    assert_eq!(caller.fuel(), pattern(k));
                }
                drop(guard);
            })
        };
        writer.join().unwrap();
        done.store(true, Ordering::SeqCst);
        assert!(reader.join().unwrap() > 0);
        assert_eq!(store.fuel(), pattern(rounds - 1));
    }

    #[test]
    fn epoch_deadlines_are_relative_to_the_counter() {
        let store = Store::default();
        let counter = store.epoch_counter();
        assert!(EpochCounter::same(&counter, &store.epoch_counter()));
        let runtime = store.inner.runtime.as_ptr();
        // SAFETY: the store is idle (no wasm runs) and its runtime state lives
        // as long as `store`, which this test holds.
        assert_eq!(unsafe { (*runtime).epoch_deadline }, u64::MAX);
        counter.increment();
        store.set_epoch_deadline(2).unwrap();
        // SAFETY: the store is idle (no wasm runs) and its runtime state lives
        // as long as `store`, which this test holds.
        assert_eq!(unsafe { (*runtime).epoch_deadline }, 3);
        // SAFETY: the store is idle (no wasm runs) and its runtime state lives
        // as long as `store`, which this test holds.
        assert_eq!(unsafe { (*runtime).epoch_counter }, counter.as_ptr());
        let shared = EpochCounter::new();
        store.set_epoch_counter(&shared).unwrap();
        assert!(EpochCounter::same(&shared, &store.epoch_counter()));
        // SAFETY: the store is idle (no wasm runs) and its runtime state lives
        // as long as `store`, which this test holds.
        assert_eq!(unsafe { (*runtime).epoch_counter }, shared.as_ptr());
        let from_thread = shared.clone();
        std::thread::spawn(move || from_thread.increment())
            .join()
            .unwrap();
        assert_eq!(shared.current(), 1);
        store.clear_epoch_deadline().unwrap();
        // SAFETY: the store is idle (no wasm runs) and its runtime state lives
        // as long as `store`, which this test holds.
        assert_eq!(unsafe { (*runtime).epoch_deadline }, u64::MAX);
    }
}
