//! Canonical signature ids for `call_indirect`.
//!
//! Generated code compares `vmctx.type_ids[t]` with the `type_id` of the
//! table entry it is about to call, so two structurally equal signatures must
//! get the same id in every instance of the process (a table may one day hold
//! functions of another instance). Ids are never freed: the set of distinct
//! signatures a process sees is small.

use alloc::collections::BTreeMap;

use crate::prelude::*;
use crate::sync::{Mutex, MutexGuard};

use vibewasm_format::FuncType;

struct Interner {
    ids: BTreeMap<FuncType, u32>,
    /// Signature of id `i + 1`.
    types: Vec<FuncType>,
}

fn interner() -> MutexGuard<'static, Interner> {
    // A panic while holding the lock cannot leave the interner half-updated
    // (the id is computed before both inserts, which cannot fail), so a
    // poisoned lock is still consistent (`sync::Mutex` ignores poisoning).
    static INTERNER: Mutex<Interner> = Mutex::new(Interner {
        ids: BTreeMap::new(),
        types: Vec::new(),
    });
    INTERNER.lock()
}

/// The process-wide id of `ty`. Ids start at 1, so a zeroed (null) table
/// entry never matches any signature. `None` only if the process has seen
/// more than `u32::MAX - 1` distinct signatures.
pub fn canonical_type_id(ty: &FuncType) -> Option<u32> {
    let mut interner = interner();
    if let Some(&id) = interner.ids.get(ty) {
        return Some(id);
    }
    let id = u32::try_from(interner.types.len()).ok()?.checked_add(1)?;
    interner.ids.insert(ty.clone(), id);
    interner.types.push(ty.clone());
    Some(id)
}

/// The signature with canonical id `id`.
pub(crate) fn type_of_id(id: u64) -> Option<FuncType> {
    let index = usize::try_from(id.checked_sub(1)?).ok()?;
    interner().types.get(index).cloned()
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use vibewasm_format::ValType;

    #[test]
    fn equal_signatures_share_an_id_and_ids_are_never_zero() {
        let a = FuncType {
            params: vec![ValType::I32, ValType::I64],
            results: vec![ValType::F32],
        };
        let b = FuncType {
            params: vec![ValType::I64, ValType::I32],
            results: vec![ValType::F32],
        };
        let id_a = canonical_type_id(&a).unwrap();
        let id_b = canonical_type_id(&b).unwrap();
        assert_ne!(id_a, 0);
        assert_ne!(id_b, 0);
        assert_ne!(id_a, id_b);
        assert_eq!(canonical_type_id(&a.clone()), Some(id_a));
        let from_thread = std::thread::spawn(move || canonical_type_id(&b))
            .join()
            .unwrap();
        assert_eq!(from_thread, Some(id_b));
        assert_eq!(type_of_id(id_a as u64), Some(a));
        assert_eq!(type_of_id(0), None);
    }
}
