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

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
        self.epoch.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The epoch counter's address, for `RuntimeState::epoch_counter`. It
    /// stays valid until the counter is replaced (under the store).
    pub(crate) fn counter_ptr(&self) -> *const u64 {
        self.epoch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ptr()
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
        // SAFETY: the runtime state lives as long as the store; holding the
        // store means no generated code touches it meanwhile.
        unsafe { (*guard.runtime()).fuel = fuel };
        Ok(())
    }

    /// Adds `fuel` to what is left (saturating) and returns the new amount.
    /// Fails like [`Store::set_fuel`].
    pub fn add_fuel(&self, fuel: u64) -> Result<u64, AccessError> {
        let guard = self.enter()?;
        let runtime = guard.runtime();
        // SAFETY: as in `set_fuel`.
        unsafe {
            let left = (*runtime).fuel.max(0);
            (*runtime).fuel = left.saturating_add(fuel.min(i64::MAX as u64) as i64);
            Ok((*runtime).fuel as u64)
        }
    }

    /// The fuel left. After an "out of fuel" trap this is what the last
    /// region could not pay for (less than its cost; never negative). While
    /// wasm runs on another thread it is a snapshot.
    pub fn fuel(&self) -> u64 {
        let runtime = self.inner.runtime.as_ptr();
        // SAFETY: the runtime state lives as long as the store and its
        // `fuel` field is 8-byte aligned. Generated code on another thread
        // may be updating it with plain (on x86-64: single, atomic)
        // read-modify-write instructions; reading it atomically gives the
        // value before or after such an update, never a torn one.
        let fuel = unsafe { AtomicI64::from_ptr(std::ptr::addr_of_mut!((*runtime).fuel)) }
            .load(Ordering::Relaxed);
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
        *sandbox.epoch.lock().unwrap_or_else(|e| e.into_inner()) = counter.clone();
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
        // SAFETY: the caller's store is held by this thread, whose wasm is
        // suspended in this host call: nothing else touches its runtime state.
        unsafe { (*self.runtime()).fuel.max(0) as u64 }
    }

    /// Sets the fuel left in the calling store (at most `i64::MAX`), e.g.
    /// to charge for the host function's own work or to stop the guest at
    /// its next charge (with 0). [`Store::set_fuel`] cannot be used here:
    /// the store is busy running the caller.
    pub fn set_fuel(&mut self, fuel: u64) {
        // SAFETY: as in `fuel`.
        unsafe { (*self.runtime()).fuel = fuel.min(i64::MAX as u64) as i64 };
    }

    fn runtime(&self) -> *mut RuntimeState {
        // SAFETY: the vmctx of the calling instance is live while it calls
        // us; its RUNTIME slot points to its store's runtime state.
        unsafe { read_vmctx_ptr::<RuntimeState>(self.vmctx(), RUNTIME) }
    }
}

#[cfg(test)]
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
        unsafe { (*store.inner.runtime.as_ptr()).fuel = -3 };
        assert_eq!(store.fuel(), 0);
        assert_eq!(store.add_fuel(2).unwrap(), 2);
        let guard = store.enter().unwrap();
        assert_eq!(store.set_fuel(1), Err(AccessError::StoreBusy));
        drop(guard);
    }

    #[test]
    fn epoch_deadlines_are_relative_to_the_counter() {
        let store = Store::default();
        let counter = store.epoch_counter();
        assert!(EpochCounter::same(&counter, &store.epoch_counter()));
        let runtime = store.inner.runtime.as_ptr();
        assert_eq!(unsafe { (*runtime).epoch_deadline }, u64::MAX);
        counter.increment();
        store.set_epoch_deadline(2).unwrap();
        assert_eq!(unsafe { (*runtime).epoch_deadline }, 3);
        assert_eq!(unsafe { (*runtime).epoch_counter }, counter.as_ptr());
        let shared = EpochCounter::new();
        store.set_epoch_counter(&shared).unwrap();
        assert!(EpochCounter::same(&shared, &store.epoch_counter()));
        assert_eq!(unsafe { (*runtime).epoch_counter }, shared.as_ptr());
        let from_thread = shared.clone();
        std::thread::spawn(move || from_thread.increment())
            .join()
            .unwrap();
        assert_eq!(shared.current(), 1);
        store.clear_epoch_deadline().unwrap();
        assert_eq!(unsafe { (*runtime).epoch_deadline }, u64::MAX);
    }
}
