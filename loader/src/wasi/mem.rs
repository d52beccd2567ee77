//! Bounds-checked access to the guest's linear memory. Every pointer and
//! length a guest passes is untrusted: an access outside memory is
//! `EFAULT`, never a panic or a read of host memory.

use super::errno::{Errno, WasiResult};

/// The most `iovec`s one read or write call may pass (Linux's `IOV_MAX`).
pub(crate) const MAX_IOVS: u32 = 1024;

/// Memory 0 of the calling instance.
pub(crate) struct GuestMemory<'a> {
    bytes: &'a mut [u8],
}

impl<'a> GuestMemory<'a> {
    pub(crate) fn new(bytes: &'a mut [u8]) -> GuestMemory<'a> {
        GuestMemory { bytes }
    }

    fn range(&self, ptr: u32, len: u64) -> WasiResult<std::ops::Range<usize>> {
        let start = u64::from(ptr);
        let end = start.checked_add(len).ok_or(Errno::FAULT)?;
        if end > self.bytes.len() as u64 {
            return Err(Errno::FAULT);
        }
        // Both are at most the memory's length, which is a usize.
        Ok(start as usize..end as usize)
    }

    /// `len` bytes at `ptr`.
    pub(crate) fn slice(&self, ptr: u32, len: u32) -> WasiResult<&[u8]> {
        let range = self.range(ptr, u64::from(len))?;
        Ok(&self.bytes[range])
    }

    /// `len` writable bytes at `ptr`.
    pub(crate) fn slice_mut(&mut self, ptr: u32, len: u32) -> WasiResult<&mut [u8]> {
        let range = self.range(ptr, u64::from(len))?;
        Ok(&mut self.bytes[range])
    }

    fn array<const N: usize>(&self, ptr: u32) -> WasiResult<[u8; N]> {
        let range = self.range(ptr, N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[range]);
        Ok(out)
    }

    pub(crate) fn read_u8(&self, ptr: u32) -> WasiResult<u8> {
        Ok(self.array::<1>(ptr)?[0])
    }

    pub(crate) fn read_u16(&self, ptr: u32) -> WasiResult<u16> {
        Ok(u16::from_le_bytes(self.array(ptr)?))
    }

    pub(crate) fn read_u32(&self, ptr: u32) -> WasiResult<u32> {
        Ok(u32::from_le_bytes(self.array(ptr)?))
    }

    pub(crate) fn read_u64(&self, ptr: u32) -> WasiResult<u64> {
        Ok(u64::from_le_bytes(self.array(ptr)?))
    }

    /// Copies `data` to `ptr`.
    pub(crate) fn write(&mut self, ptr: u32, data: &[u8]) -> WasiResult {
        let len = u32::try_from(data.len()).map_err(|_| Errno::FAULT)?;
        self.slice_mut(ptr, len)?.copy_from_slice(data);
        Ok(())
    }

    pub(crate) fn write_u8(&mut self, ptr: u32, value: u8) -> WasiResult {
        self.write(ptr, &[value])
    }

    pub(crate) fn write_u32(&mut self, ptr: u32, value: u32) -> WasiResult {
        self.write(ptr, &value.to_le_bytes())
    }

    pub(crate) fn write_u64(&mut self, ptr: u32, value: u64) -> WasiResult {
        self.write(ptr, &value.to_le_bytes())
    }

    /// The `(buf, buf_len)` pairs of an `iovec`/`ciovec` array, each checked
    /// to lie within memory.
    pub(crate) fn iovecs(&self, iovs: u32, count: u32) -> WasiResult<Vec<(u32, u32)>> {
        if count > MAX_IOVS {
            return Err(Errno::INVAL);
        }
        let mut out = Vec::with_capacity(count as usize);
        for i in 0..count {
            let at = iovs.checked_add(i * 8).ok_or(Errno::FAULT)?;
            let buf = self.read_u32(at)?;
            let len = self.read_u32(at.checked_add(4).ok_or(Errno::FAULT)?)?;
            self.range(buf, u64::from(len))?;
            out.push((buf, len));
        }
        Ok(out)
    }

    /// A path or name the guest passes as pointer and length.
    pub(crate) fn string(&self, ptr: u32, len: u32) -> WasiResult<Vec<u8>> {
        Ok(self.slice(ptr, len)?.to_vec())
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn accesses_outside_memory_are_faults() {
        let mut bytes = vec![0u8; 32];
        let mut mem = GuestMemory::new(&mut bytes);
        mem.write_u32(28, 0xdead_beef).unwrap();
        assert_eq!(mem.read_u32(28), Ok(0xdead_beef));
        assert_eq!(mem.read_u32(29), Err(Errno::FAULT));
        assert_eq!(mem.write_u64(u32::MAX, 1), Err(Errno::FAULT));
        assert_eq!(mem.slice(32, 0).map(<[u8]>::len), Ok(0));
        assert_eq!(mem.slice(33, 0).err(), Some(Errno::FAULT));
        assert_eq!(mem.slice(0, u32::MAX).err(), Some(Errno::FAULT));
        // One iovec pointing past the end spoils the whole array.
        mem.write_u32(0, 16).unwrap();
        mem.write_u32(4, 8).unwrap();
        mem.write_u32(8, 30).unwrap();
        mem.write_u32(12, 8).unwrap();
        assert_eq!(mem.iovecs(0, 1), Ok(vec![(16, 8)]));
        assert_eq!(mem.iovecs(0, 2), Err(Errno::FAULT));
        assert_eq!(mem.iovecs(0, MAX_IOVS + 1), Err(Errno::INVAL));
        assert_eq!(mem.iovecs(u32::MAX - 3, 1), Err(Errno::FAULT));
    }
}
