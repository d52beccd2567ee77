//! Clocks and randomness: `clock_time_get`, `clock_res_get`, `random_get`,
//! and the clock part of `poll_oneoff` (sleeping).

use std::time::Duration;

use super::errno::{Errno, WasiResult};

/// WASI clock ids.
pub(crate) const CLOCK_REALTIME: u32 = 0;
pub(crate) const CLOCK_MONOTONIC: u32 = 1;
pub(crate) const CLOCK_PROCESS_CPUTIME_ID: u32 = 2;
pub(crate) const CLOCK_THREAD_CPUTIME_ID: u32 = 3;

fn host_clock(id: u32) -> WasiResult<libc::clockid_t> {
    Ok(match id {
        CLOCK_REALTIME => libc::CLOCK_REALTIME,
        CLOCK_MONOTONIC => libc::CLOCK_MONOTONIC,
        CLOCK_PROCESS_CPUTIME_ID => libc::CLOCK_PROCESS_CPUTIME_ID,
        CLOCK_THREAD_CPUTIME_ID => libc::CLOCK_THREAD_CPUTIME_ID,
        _ => return Err(Errno::INVAL),
    })
}

fn nanos(ts: &libc::timespec) -> u64 {
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// The time of clock `id` in nanoseconds (since the epoch for the
/// realtime clock, since an arbitrary point for the others).
pub(crate) fn time(id: u32) -> WasiResult<u64> {
    let clock = host_clock(id)?;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Err(Errno::last_os_error());
    }
    Ok(nanos(&ts))
}

/// The resolution of clock `id` in nanoseconds.
pub(crate) fn resolution(id: u32) -> WasiResult<u64> {
    let clock = host_clock(id)?;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_getres(clock, &mut ts) } != 0 {
        return Err(Errno::last_os_error());
    }
    Ok(nanos(&ts).max(1))
}

/// How long from now until clock `id` reads `deadline` (zero if it has).
pub(crate) fn until(id: u32, deadline: u64) -> WasiResult<Duration> {
    Ok(Duration::from_nanos(deadline.saturating_sub(time(id)?)))
}

/// Fills `buf` from the operating system's random source.
pub(crate) fn fill_random(buf: &mut [u8]) -> WasiResult {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is a valid, writable buffer of `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let errno = Errno::last_os_error();
            if errno == Errno::INTR {
                continue;
            }
            return Err(errno);
        }
        filled += n as usize;
    }
    Ok(())
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn clocks_advance_and_random_fills() {
        let a = time(CLOCK_MONOTONIC).unwrap();
        let b = time(CLOCK_MONOTONIC).unwrap();
        assert!(b >= a);
        // After 2020-01-01.
        assert!(time(CLOCK_REALTIME).unwrap() > 1_577_836_800_000_000_000);
        assert!(resolution(CLOCK_REALTIME).unwrap() >= 1);
        assert!(time(CLOCK_PROCESS_CPUTIME_ID).is_ok());
        assert!(time(CLOCK_THREAD_CPUTIME_ID).is_ok());
        assert_eq!(time(4), Err(Errno::INVAL));
        let mut buf = [0u8; 4096];
        fill_random(&mut buf).unwrap();
        assert!(buf.iter().filter(|&&b| b == 0).count() < 100);
    }
}
