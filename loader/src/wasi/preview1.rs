//! The `wasi_snapshot_preview1` function table: every function of the
//! preview1 ABI, decoding its arguments from guest memory (bounds-checked)
//! and calling into [`super::fs`], [`super::clocks`] and the context.

use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use vibewasm_format::{FuncType, TrapCode, ValType};

use super::abi::*;
use super::clocks;
use super::ctx::WasiCtx;
use super::errno::{Errno, WasiResult};
use super::fs::{self, Entry, FdTable, OpenOptions};
use super::mem::GuestMemory;
use super::stdio;
use crate::error::LinkError;
use crate::func::Caller;
use crate::linker::Linker;
use crate::sandbox::EpochDeadline;
use crate::trap::Trap;
use crate::values::Val;

/// The import module name of WASI preview1.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// The arguments of one call, typed by the function's signature.
struct Args<'a>(&'a [Val]);

impl Args<'_> {
    fn u32(&self, i: usize) -> u32 {
        match self.0.get(i) {
            Some(Val::I32(v)) => *v as u32,
            _ => 0,
        }
    }

    fn u64(&self, i: usize) -> u64 {
        match self.0.get(i) {
            Some(Val::I64(v)) => *v as u64,
            _ => 0,
        }
    }

    /// An argument whose type in the ABI is narrower than i32 (`u8` or
    /// `u16` passed as i32): larger values are invalid.
    fn narrow<T: TryFrom<u32>>(&self, i: usize) -> WasiResult<T> {
        T::try_from(self.u32(i)).map_err(|_| Errno::INVAL)
    }
}

type Body = fn(&WasiCtx, &mut Caller<'_>, &Args<'_>) -> WasiResult;

/// Not a WASI errno (none is this large): what a body that waits
/// (`poll_oneoff`, a read of the host's stdin) returns once the store's
/// epoch deadline has passed. The function then traps with "interrupted",
/// as code compiled with epoch checks would, instead of returning it.
const INTERRUPTED: Errno = Errno(u16::MAX);

/// How long a waiting function sleeps between two looks at the store's
/// epoch deadline: how late after the deadline it stops, at worst.
const WAIT_SLICE: Duration = Duration::from_millis(10);

/// The most subscriptions one `poll_oneoff` call may pass; more is
/// `EINVAL` (as `poll(2)` beyond its limit), so what the host allocates for
/// a call is bounded whatever the size of the guest's memory. As many as
/// the descriptors a guest may have open.
pub(crate) const MAX_SUBSCRIPTIONS: u32 = fs::MAX_FDS as u32;

fn memory<'c>(caller: &'c mut Caller<'_>) -> WasiResult<GuestMemory<'c>> {
    caller
        .memory_mut()
        .map(GuestMemory::new)
        .ok_or(Errno::FAULT)
}

/// Every preview1 function but `proc_exit`: name, parameter types (`i`
/// i32, `I` i64; the result is always an i32 errno), body.
const FUNCTIONS: &[(&str, &str, Body)] = &[
    ("args_get", "ii", args_get),
    ("args_sizes_get", "ii", args_sizes_get),
    ("environ_get", "ii", environ_get),
    ("environ_sizes_get", "ii", environ_sizes_get),
    ("clock_res_get", "ii", clock_res_get),
    ("clock_time_get", "iIi", clock_time_get),
    ("fd_advise", "iIIi", fd_advise),
    ("fd_allocate", "iII", fd_allocate),
    ("fd_close", "i", fd_close),
    ("fd_datasync", "i", fd_datasync),
    ("fd_fdstat_get", "ii", fd_fdstat_get),
    ("fd_fdstat_set_flags", "ii", fd_fdstat_set_flags),
    ("fd_fdstat_set_rights", "iII", fd_fdstat_set_rights),
    ("fd_filestat_get", "ii", fd_filestat_get),
    ("fd_filestat_set_size", "iI", fd_filestat_set_size),
    ("fd_filestat_set_times", "iIIi", fd_filestat_set_times),
    ("fd_pread", "iiiIi", fd_pread),
    ("fd_prestat_get", "ii", fd_prestat_get),
    ("fd_prestat_dir_name", "iii", fd_prestat_dir_name),
    ("fd_pwrite", "iiiIi", fd_pwrite),
    ("fd_read", "iiii", fd_read),
    ("fd_readdir", "iiiIi", fd_readdir),
    ("fd_renumber", "ii", fd_renumber),
    ("fd_seek", "iIii", fd_seek),
    ("fd_sync", "i", fd_sync),
    ("fd_tell", "ii", fd_tell),
    ("fd_write", "iiii", fd_write),
    ("path_create_directory", "iii", path_create_directory),
    ("path_filestat_get", "iiiii", path_filestat_get),
    (
        "path_filestat_set_times",
        "iiiiIIi",
        path_filestat_set_times,
    ),
    ("path_link", "iiiiiii", path_link),
    ("path_open", "iiiiiIIii", path_open),
    ("path_readlink", "iiiiii", path_readlink),
    ("path_remove_directory", "iii", path_remove_directory),
    ("path_rename", "iiiiii", path_rename),
    ("path_symlink", "iiiii", unsupported),
    ("path_unlink_file", "iii", path_unlink_file),
    ("poll_oneoff", "iiii", poll_oneoff),
    ("proc_raise", "i", unsupported),
    ("sched_yield", "", sched_yield),
    ("random_get", "ii", random_get),
    ("sock_accept", "iii", unsupported),
    ("sock_recv", "iiiiii", unsupported),
    ("sock_send", "iiiii", unsupported),
    ("sock_shutdown", "ii", unsupported),
];

/// The preview1 functions that exist (so that every program links) but
/// always return `ENOSYS`.
pub const UNSUPPORTED: &[&str] = &[
    "path_symlink",
    "proc_raise",
    "sock_accept",
    "sock_recv",
    "sock_send",
    "sock_shutdown",
];

/// Defines every `wasi_snapshot_preview1` function in `linker`, all
/// sharing `ctx`. Fails only if one of them is already defined.
pub fn add_to_linker(linker: &mut Linker, ctx: &WasiCtx) -> Result<(), LinkError> {
    for &(name, params, body) in FUNCTIONS {
        let ty = FuncType {
            params: params
                .bytes()
                .map(|c| {
                    if c == b'I' {
                        ValType::I64
                    } else {
                        ValType::I32
                    }
                })
                .collect(),
            results: vec![ValType::I32],
        };
        let ctx = ctx.clone();
        linker.func_new(MODULE, name, ty, move |caller, args| {
            let errno = match body(&ctx, caller, &Args(args)) {
                Ok(()) => Errno::SUCCESS,
                Err(INTERRUPTED) => return Err(Trap::from_code(TrapCode::Interrupted)),
                Err(errno) => errno,
            };
            Ok(vec![Val::I32(i32::from(errno.0))])
        })?;
    }
    let ty = FuncType {
        params: vec![ValType::I32],
        results: vec![],
    };
    linker.func_new(MODULE, "proc_exit", ty, |_, args| {
        Err(Trap::exit(Args(args).u32(0) as i32))
    })?;
    Ok(())
}

fn unsupported(_: &WasiCtx, _: &mut Caller<'_>, _: &Args<'_>) -> WasiResult {
    Err(Errno::NOSYS)
}

// ---------------------------------------------------------------------------
// Arguments and environment.

fn string_sizes(strings: &[Vec<u8>]) -> WasiResult<(u32, u32)> {
    let count = u32::try_from(strings.len()).map_err(|_| Errno::OVERFLOW)?;
    let bytes: usize = strings.iter().map(|s| s.len() + 1).sum();
    let bytes = u32::try_from(bytes).map_err(|_| Errno::OVERFLOW)?;
    Ok((count, bytes))
}

/// Writes the pointer array at `ptrs` and the NUL-terminated strings from
/// `buf` on.
fn write_strings(
    mem: &mut GuestMemory<'_>,
    strings: &[Vec<u8>],
    ptrs: u32,
    buf: u32,
) -> WasiResult {
    let mut at = buf;
    for (i, s) in strings.iter().enumerate() {
        let slot = (i as u32)
            .checked_mul(4)
            .and_then(|o| ptrs.checked_add(o))
            .ok_or(Errno::FAULT)?;
        mem.write_u32(slot, at)?;
        mem.write(at, s)?;
        let end = at.checked_add(s.len() as u32).ok_or(Errno::FAULT)?;
        mem.write_u8(end, 0)?;
        at = end.checked_add(1).ok_or(Errno::FAULT)?;
    }
    Ok(())
}

fn args_get(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    write_strings(&mut memory(caller)?, ctx.args(), a.u32(0), a.u32(1))
}

fn args_sizes_get(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let (count, bytes) = string_sizes(ctx.args())?;
    let mut mem = memory(caller)?;
    mem.write_u32(a.u32(0), count)?;
    mem.write_u32(a.u32(1), bytes)
}

fn environ_get(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    write_strings(&mut memory(caller)?, ctx.env(), a.u32(0), a.u32(1))
}

fn environ_sizes_get(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let (count, bytes) = string_sizes(ctx.env())?;
    let mut mem = memory(caller)?;
    mem.write_u32(a.u32(0), count)?;
    mem.write_u32(a.u32(1), bytes)
}

// ---------------------------------------------------------------------------
// Clocks, randomness, scheduling.

fn clock_res_get(_: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let res = clocks::resolution(a.u32(0))?;
    memory(caller)?.write_u64(a.u32(1), res)
}

fn clock_time_get(_: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let now = clocks::time(a.u32(0))?;
    memory(caller)?.write_u64(a.u32(2), now)
}

fn random_get(_: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let mut mem = memory(caller)?;
    clocks::fill_random(mem.slice_mut(a.u32(0), a.u32(1))?)
}

fn sched_yield(_: &WasiCtx, _: &mut Caller<'_>, _: &Args<'_>) -> WasiResult {
    std::thread::yield_now();
    Ok(())
}

/// One decoded `subscription`.
enum Subscription {
    Clock {
        id: u32,
        timeout: u64,
        abstime: bool,
    },
    Fd {
        fd: u32,
        write: bool,
    },
}

/// Sleeps for `duration`, but only until the store's epoch deadline
/// passes (then [`INTERRUPTED`]).
fn sleep(duration: Duration, deadline: EpochDeadline<'_>) -> WasiResult {
    if deadline.never() {
        // Nothing can interrupt it: one sleep.
        std::thread::sleep(duration);
        return Ok(());
    }
    // The wall-clock end, fixed now (a CPU-time clock's deadline is slept
    // as that much wall time, as before).
    let end = Instant::now().checked_add(duration);
    loop {
        let left = end.map_or(WAIT_SLICE, |end| {
            end.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            return Ok(());
        }
        if deadline.reached() {
            return Err(INTERRUPTED);
        }
        std::thread::sleep(left.min(WAIT_SLICE));
    }
}

/// `poll_oneoff`, minimal: clock subscriptions sleep (until the earliest
/// deadline, or the store's epoch deadline: then the call traps with
/// "interrupted"); descriptor subscriptions are reported ready at once
/// (reads and writes then block as needed), so a poll with any of them
/// does not sleep. At most [`MAX_SUBSCRIPTIONS`] subscriptions.
fn poll_oneoff(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let (subs_ptr, events_ptr, count, nevents_ptr) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    if count == 0 || count > MAX_SUBSCRIPTIONS {
        return Err(Errno::INVAL);
    }
    let deadline = caller.epoch_deadline();
    let mut mem = memory(caller)?;
    mem.slice(
        subs_ptr,
        count.checked_mul(SUBSCRIPTION_SIZE).ok_or(Errno::FAULT)?,
    )?;
    mem.slice_mut(
        events_ptr,
        count.checked_mul(EVENT_SIZE).ok_or(Errno::FAULT)?,
    )?;
    mem.slice_mut(nevents_ptr, 4)?;

    let mut subs = Vec::with_capacity(count as usize);
    for i in 0..count {
        let at = subs_ptr + i * SUBSCRIPTION_SIZE;
        let userdata = mem.read_u64(at)?;
        let sub = match mem.read_u8(at + 8)? {
            EVENTTYPE_CLOCK => Subscription::Clock {
                id: mem.read_u32(at + 16)?,
                timeout: mem.read_u64(at + 24)?,
                abstime: mem.read_u16(at + 40)? & SUBCLOCKFLAGS_ABSTIME != 0,
            },
            EVENTTYPE_FD_READ => Subscription::Fd {
                fd: mem.read_u32(at + 16)?,
                write: false,
            },
            EVENTTYPE_FD_WRITE => Subscription::Fd {
                fd: mem.read_u32(at + 16)?,
                write: true,
            },
            _ => return Err(Errno::INVAL),
        };
        subs.push((userdata, sub));
    }

    // (userdata, errno, type, nbytes)
    let mut events: Vec<(u64, Errno, u8, u64)> = Vec::new();
    // Clock subscriptions still waiting: (index, deadline clock, deadline).
    let mut waiting: Vec<(usize, u32, u64)> = Vec::new();
    for (i, (userdata, sub)) in subs.iter().enumerate() {
        match *sub {
            Subscription::Clock {
                id,
                timeout,
                abstime,
            } => {
                let deadline = if abstime {
                    Ok(timeout)
                } else {
                    clocks::time(id).map(|now| now.saturating_add(timeout))
                };
                match deadline {
                    Ok(deadline) => waiting.push((i, id, deadline)),
                    Err(errno) => events.push((*userdata, errno, EVENTTYPE_CLOCK, 0)),
                }
            }
            Subscription::Fd { fd, write } => {
                let kind = if write {
                    EVENTTYPE_FD_WRITE
                } else {
                    EVENTTYPE_FD_READ
                };
                let errno = match ctx.fds().get(fd) {
                    Ok(_) => Errno::SUCCESS,
                    Err(errno) => errno,
                };
                events.push((*userdata, errno, kind, 0));
            }
        }
    }
    if events.is_empty() {
        // Sleep until the earliest deadline.
        let mut shortest: Option<Duration> = None;
        for &(_, id, deadline) in &waiting {
            let left = clocks::until(id, deadline)?;
            shortest = Some(shortest.map_or(left, |s| s.min(left)));
        }
        if let Some(d) = shortest {
            sleep(d, deadline)?;
        }
    }
    for &(i, id, deadline) in &waiting {
        if events.is_empty() || clocks::until(id, deadline)?.is_zero() {
            events.push((subs[i].0, Errno::SUCCESS, EVENTTYPE_CLOCK, 0));
        }
    }
    for (n, (userdata, errno, kind, nbytes)) in events.iter().enumerate() {
        let mut buf = [0u8; EVENT_SIZE as usize];
        buf[0..8].copy_from_slice(&userdata.to_le_bytes());
        buf[8..10].copy_from_slice(&errno.0.to_le_bytes());
        buf[10] = *kind;
        buf[16..24].copy_from_slice(&nbytes.to_le_bytes());
        mem.write(events_ptr + n as u32 * EVENT_SIZE, &buf)?;
    }
    mem.write_u32(nevents_ptr, events.len() as u32)
}

// ---------------------------------------------------------------------------
// Descriptors.

fn fd_close(ctx: &WasiCtx, _: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    drop(ctx.fds().remove(a.u32(0))?);
    Ok(())
}

fn fd_renumber(ctx: &WasiCtx, _: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    ctx.fds().renumber(a.u32(0), a.u32(1))
}

fn fd_fdstat_get(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let stat = ctx.fds().get(a.u32(0))?.fdstat()?;
    stat.write(&mut memory(caller)?, a.u32(1))
}

fn fd_fdstat_set_flags(ctx: &WasiCtx, _: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let flags = a.narrow::<u16>(1)?;
    ctx.fds().get(a.u32(0))?.set_fdflags(flags)
}

/// Rights can only shrink.
fn fd_fdstat_set_rights(ctx: &WasiCtx, _: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let (base, inheriting) = (a.u64(1), a.u64(2));
    let mut fds = ctx.fds();
    let (b, i) = match fds.get(a.u32(0))? {
        Entry::Dir(d) => (&mut d.rights_base, &mut d.rights_inheriting),
        Entry::File(f) => (&mut f.rights_base, &mut f.rights_inheriting),
        Entry::Input(_) | Entry::Output(_) => return Err(Errno::NOTSUP),
    };
    if base & !*b != 0 || inheriting & !*i != 0 {
        return Err(Errno::NOTCAPABLE);
    }
    (*b, *i) = (base, inheriting);
    Ok(())
}

fn fd_filestat_get(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let stat = ctx.fds().get(a.u32(0))?.filestat()?;
    stat.write(&mut memory(caller)?, a.u32(1))
}

fn fd_filestat_set_size(ctx: &WasiCtx, _: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let mut fds = ctx.fds();
    Ok(fds.get(a.u32(0))?.file()?.set_len(a.u64(1))?)
}

const FSTFLAGS_ATIM: u16 = 1 << 0;
const FSTFLAGS_ATIM_NOW: u16 = 1 << 1;
const FSTFLAGS_MTIM: u16 = 1 << 2;
const FSTFLAGS_MTIM_NOW: u16 = 1 << 3;

/// The `utimensat` times of `fst_flags`.
fn timespecs(atim: u64, mtim: u64, flags: u16) -> WasiResult<[libc::timespec; 2]> {
    let one = |time: u64, set: u16, now: u16| -> WasiResult<libc::timespec> {
        match (flags & set != 0, flags & now != 0) {
            (true, true) => Err(Errno::INVAL),
            (true, false) => Ok(libc::timespec {
                tv_sec: (time / 1_000_000_000) as libc::time_t,
                tv_nsec: (time % 1_000_000_000) as libc::c_long,
            }),
            (false, true) => Ok(libc::timespec {
                tv_sec: 0,
                tv_nsec: libc::UTIME_NOW,
            }),
            (false, false) => Ok(libc::timespec {
                tv_sec: 0,
                tv_nsec: libc::UTIME_OMIT,
            }),
        }
    };
    Ok([
        one(atim, FSTFLAGS_ATIM, FSTFLAGS_ATIM_NOW)?,
        one(mtim, FSTFLAGS_MTIM, FSTFLAGS_MTIM_NOW)?,
    ])
}

fn fd_filestat_set_times(ctx: &WasiCtx, _: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let times = timespecs(a.u64(1), a.u64(2), a.narrow(3)?)?;
    let mut fds = ctx.fds();
    let fd = match fds.get(a.u32(0))? {
        Entry::Dir(d) => std::os::fd::AsRawFd::as_raw_fd(&d.fd),
        Entry::File(f) => std::os::fd::AsRawFd::as_raw_fd(&f.file),
        Entry::Input(_) | Entry::Output(_) => return Err(Errno::NOTSUP),
    };
    // SAFETY: a descriptor we own and two valid timespecs.
    if unsafe { libc::futimens(fd, times.as_ptr()) } != 0 {
        return Err(Errno::last_os_error());
    }
    Ok(())
}

fn fd_advise(ctx: &WasiCtx, _: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    // Advice is a hint: check the descriptor and the value, then ignore it.
    let advice = a.narrow::<u8>(3)?;
    if advice > 5 {
        return Err(Errno::INVAL);
    }
    ctx.fds().get(a.u32(0))?.file()?;
    Ok(())
}

fn fd_allocate(ctx: &WasiCtx, _: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let (offset, len) = (a.u64(1), a.u64(2));
    let end = offset.checked_add(len).ok_or(Errno::FBIG)?;
    let mut fds = ctx.fds();
    let file = fds.get(a.u32(0))?.file()?;
    if file.metadata()?.len() < end {
        file.set_len(end)?;
    }
    Ok(())
}

fn fd_sync(ctx: &WasiCtx, _: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let mut fds = ctx.fds();
    Ok(fds.get(a.u32(0))?.file()?.sync_all()?)
}

fn fd_datasync(ctx: &WasiCtx, _: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let mut fds = ctx.fds();
    Ok(fds.get(a.u32(0))?.file()?.sync_data()?)
}

fn fd_seek(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let whence = a.narrow::<u8>(2)?;
    let mut mem = memory(caller)?;
    mem.slice_mut(a.u32(3), 8)?;
    let pos = ctx.fds().get(a.u32(0))?.seek(a.u64(1) as i64, whence)?;
    mem.write_u64(a.u32(3), pos)
}

fn fd_tell(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let mut mem = memory(caller)?;
    mem.slice_mut(a.u32(1), 8)?;
    let pos = ctx.fds().get(a.u32(0))?.seek(0, WHENCE_CUR)?;
    mem.write_u64(a.u32(1), pos)
}

/// The descriptor table, taken once descriptor `fd` can be read without
/// waiting for input (see `Entry::read_ready`: only the host's stdin ever
/// waits). The table is not held while waiting, so other instances sharing
/// the context go on; the wait ends at the store's epoch deadline
/// ([`INTERRUPTED`]).
fn readable<'t>(
    ctx: &'t WasiCtx,
    fd: u32,
    deadline: EpochDeadline<'_>,
) -> WasiResult<MutexGuard<'t, FdTable>> {
    loop {
        let mut fds = ctx.fds();
        if fds.get(fd)?.read_ready() {
            return Ok(fds);
        }
        drop(fds);
        if deadline.reached() {
            return Err(INTERRUPTED);
        }
        stdio::wait_host_stdin((!deadline.never()).then_some(WAIT_SLICE));
    }
}

/// Waits until a write to `entry` would not block (only the host's stdout
/// and stderr ever wait: see `Output::write_ready`), or traps with
/// "interrupted" once the store's epoch deadline has passed: a guest
/// writing to a pipe nobody reads stops at the deadline too.
fn writable(entry: &Entry, deadline: &EpochDeadline<'_>) -> WasiResult<()> {
    let Some(fd) = entry.host_output_fd() else {
        return Ok(());
    };
    loop {
        if entry.write_ready() {
            return Ok(());
        }
        if deadline.reached() {
            return Err(INTERRUPTED);
        }
        stdio::wait_host_writable(fd, (!deadline.never()).then_some(WAIT_SLICE));
    }
}

/// Reads into the guest's iovecs one after the other until one is not
/// filled, or (the host's stdin) no more input is there; an error after
/// some bytes were read ends the call with them. Waiting for the host's
/// stdin ends at the store's epoch deadline.
fn read_iovecs(
    ctx: &WasiCtx,
    caller: &mut Caller<'_>,
    a: &Args<'_>,
    offset: Option<u64>,
    result_arg: usize,
) -> WasiResult {
    let deadline = caller.epoch_deadline();
    let mut mem = memory(caller)?;
    let iovs = mem.iovecs(a.u32(1), a.u32(2))?;
    let result_ptr = a.u32(result_arg);
    mem.slice_mut(result_ptr, 4)?;
    let wants_bytes = iovs.iter().any(|&(_, len)| len > 0);
    let mut fds = if offset.is_none() && wants_bytes {
        readable(ctx, a.u32(0), deadline)?
    } else {
        ctx.fds()
    };
    let entry = fds.get(a.u32(0))?;
    let mut total: u64 = 0;
    for (buf, len) in iovs {
        // What is there, without waiting for more.
        if total > 0 && offset.is_none() && !entry.read_ready() {
            break;
        }
        let dst = mem.slice_mut(buf, len)?;
        let n = match offset {
            None => entry.read(dst),
            Some(at) => entry.pread(dst, at.saturating_add(total)),
        };
        let n = match n {
            Ok(n) => n,
            Err(errno) if total == 0 => return Err(errno),
            Err(_) => break,
        };
        total += n as u64;
        if n < len as usize {
            break;
        }
    }
    drop(fds);
    mem.write_u32(
        result_ptr,
        u32::try_from(total).map_err(|_| Errno::OVERFLOW)?,
    )
}

/// Writes the guest's iovecs in order; an error after some bytes were
/// written ends the call with them.
fn write_iovecs(
    ctx: &WasiCtx,
    caller: &mut Caller<'_>,
    a: &Args<'_>,
    offset: Option<u64>,
    result_arg: usize,
) -> WasiResult {
    let deadline = caller.epoch_deadline();
    let mut mem = memory(caller)?;
    let iovs = mem.iovecs(a.u32(1), a.u32(2))?;
    let result_ptr = a.u32(result_arg);
    mem.slice_mut(result_ptr, 4)?;
    let mut fds = ctx.fds();
    let entry = fds.get(a.u32(0))?;
    let mut total: u64 = 0;
    'iovs: for (buf, len) in iovs {
        let mut data = mem.slice(buf, len)?;
        while !data.is_empty() {
            writable(entry, &deadline)?;
            let n = match offset {
                None => entry.write(data),
                Some(at) => entry.pwrite(data, at.saturating_add(total)),
            };
            match n {
                Ok(0) => break 'iovs,
                Ok(n) => {
                    total += n as u64;
                    data = &data[n..];
                }
                Err(errno) if total == 0 => return Err(errno),
                Err(_) => break 'iovs,
            }
        }
    }
    drop(fds);
    mem.write_u32(
        result_ptr,
        u32::try_from(total).map_err(|_| Errno::OVERFLOW)?,
    )
}

fn fd_read(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    read_iovecs(ctx, caller, a, None, 3)
}

fn fd_pread(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    read_iovecs(ctx, caller, a, Some(a.u64(3)), 4)
}

fn fd_write(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    write_iovecs(ctx, caller, a, None, 3)
}

fn fd_pwrite(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    write_iovecs(ctx, caller, a, Some(a.u64(3)), 4)
}

fn fd_prestat_get(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let len = match ctx.fds().get(a.u32(0))? {
        Entry::Dir(dir) => dir.preopen.as_ref().ok_or(Errno::BADF)?.len(),
        _ => return Err(Errno::BADF),
    };
    let mut mem = memory(caller)?;
    let mut buf = [0u8; 8];
    buf[0] = PREOPENTYPE_DIR;
    buf[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    mem.write(a.u32(1), &buf)
}

fn fd_prestat_dir_name(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let name = match ctx.fds().get(a.u32(0))? {
        Entry::Dir(dir) => dir.preopen.clone().ok_or(Errno::BADF)?,
        _ => return Err(Errno::BADF),
    };
    if (a.u32(2) as usize) < name.len() {
        return Err(Errno::NAMETOOLONG);
    }
    memory(caller)?.write(a.u32(1), &name)
}

fn fd_readdir(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let (buf, buf_len, cookie, used_ptr) = (a.u32(1), a.u32(2), a.u64(3), a.u32(4));
    let mut mem = memory(caller)?;
    mem.slice_mut(buf, buf_len)?;
    mem.slice_mut(used_ptr, 4)?;
    let entries = ctx.fds().dir(a.u32(0))?.entries()?;
    let mut out = Vec::new();
    let start = usize::try_from(cookie).unwrap_or(usize::MAX);
    for (i, (name, ino, filetype)) in entries.iter().enumerate().skip(start) {
        if out.len() >= buf_len as usize {
            break;
        }
        out.extend(dirent(i as u64 + 1, *ino, *filetype, name));
    }
    // A full buffer tells the guest there may be more (the last entry may
    // be cut; it asks again from its cookie).
    out.truncate(buf_len as usize);
    mem.write(buf, &out)?;
    mem.write_u32(used_ptr, out.len() as u32)
}

// ---------------------------------------------------------------------------
// Paths (sandboxed: see `fs`).

fn guest_path(mem: &GuestMemory<'_>, ptr: u32, len: u32) -> WasiResult<Vec<u8>> {
    mem.string(ptr, len)
}

fn path_open(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    // (fd, dirflags, path, path_len, oflags, rights_base, rights_inheriting, fdflags, fd_ptr)
    let mut mem = memory(caller)?;
    let path = guest_path(&mem, a.u32(2), a.u32(3))?;
    let fd_ptr = a.u32(8);
    mem.slice_mut(fd_ptr, 4)?;
    let options = OpenOptions {
        oflags: a.narrow(4)?,
        fdflags: a.narrow(7)?,
        rights_base: a.u64(5),
        rights_inheriting: a.u64(6),
    };
    let mut fds = ctx.fds();
    let at = fs::resolve(fds.dir(a.u32(0))?, &path)?;
    let entry = fs::open(&at, &options)?;
    drop(at);
    let fd = fds.insert(entry)?;
    drop(fds);
    mem.write_u32(fd_ptr, fd)
}

fn path_filestat_get(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let mut mem = memory(caller)?;
    let path = guest_path(&mem, a.u32(2), a.u32(3))?;
    let follow = a.u32(1) & LOOKUPFLAGS_SYMLINK_FOLLOW != 0;
    let stat = {
        let mut fds = ctx.fds();
        let at = fs::resolve(fds.dir(a.u32(0))?, &path)?;
        fs::stat(&at, follow)?
    };
    stat.write(&mut mem, a.u32(4))
}

fn path_filestat_set_times(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    let mem = memory(caller)?;
    let path = guest_path(&mem, a.u32(2), a.u32(3))?;
    let follow = a.u32(1) & LOOKUPFLAGS_SYMLINK_FOLLOW != 0;
    let times = timespecs(a.u64(4), a.u64(5), a.narrow(6)?)?;
    let mut fds = ctx.fds();
    let at = fs::resolve(fds.dir(a.u32(0))?, &path)?;
    // Refuses to follow a link, and sees the trailing-slash rule.
    fs::stat(&at, follow)?;
    // SAFETY: a live directory descriptor, a single-component C string,
    // two valid timespecs.
    let ret = unsafe {
        libc::utimensat(
            at.parent(),
            at.name.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if ret != 0 {
        return Err(Errno::last_os_error());
    }
    Ok(())
}

/// Resolves the path in arguments `path_arg` and `path_arg + 1` against
/// the directory in `fd_arg`, and runs `op` on it.
fn with_path(
    ctx: &WasiCtx,
    caller: &mut Caller<'_>,
    a: &Args<'_>,
    fd_arg: usize,
    path_arg: usize,
    op: impl FnOnce(&fs::Resolved) -> WasiResult,
) -> WasiResult {
    let mem = memory(caller)?;
    let path = guest_path(&mem, a.u32(path_arg), a.u32(path_arg + 1))?;
    let mut fds = ctx.fds();
    let at = fs::resolve(fds.dir(a.u32(fd_arg))?, &path)?;
    op(&at)
}

fn path_create_directory(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    with_path(ctx, caller, a, 0, 1, fs::create_directory)
}

fn path_remove_directory(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    with_path(ctx, caller, a, 0, 1, |at| fs::unlink(at, true))
}

fn path_unlink_file(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    with_path(ctx, caller, a, 0, 1, |at| fs::unlink(at, false))
}

fn path_rename(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    // (fd, old_path, old_path_len, new_fd, new_path, new_path_len)
    let mem = memory(caller)?;
    let from = guest_path(&mem, a.u32(1), a.u32(2))?;
    let to = guest_path(&mem, a.u32(4), a.u32(5))?;
    let mut fds = ctx.fds();
    let from = fs::resolve(fds.dir(a.u32(0))?, &from)?;
    let to = fs::resolve(fds.dir(a.u32(3))?, &to)?;
    fs::rename(&from, &to)
}

fn path_link(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    // (old_fd, old_flags, old_path, old_path_len, new_fd, new_path, new_path_len)
    let mem = memory(caller)?;
    let from = guest_path(&mem, a.u32(2), a.u32(3))?;
    let to = guest_path(&mem, a.u32(5), a.u32(6))?;
    let follow = a.u32(1) & LOOKUPFLAGS_SYMLINK_FOLLOW != 0;
    let mut fds = ctx.fds();
    let from = fs::resolve(fds.dir(a.u32(0))?, &from)?;
    let to = fs::resolve(fds.dir(a.u32(4))?, &to)?;
    fs::stat(&from, follow)?;
    // SAFETY: live directory descriptors and single-component C strings;
    // flags 0: a link is linked itself, never followed.
    let ret = unsafe {
        libc::linkat(
            from.parent(),
            from.name.as_ptr(),
            to.parent(),
            to.name.as_ptr(),
            0,
        )
    };
    if ret != 0 {
        return Err(Errno::last_os_error());
    }
    Ok(())
}

fn path_readlink(ctx: &WasiCtx, caller: &mut Caller<'_>, a: &Args<'_>) -> WasiResult {
    // (fd, path, path_len, buf, buf_len, bufused)
    let mut mem = memory(caller)?;
    let path = guest_path(&mem, a.u32(1), a.u32(2))?;
    let (buf, buf_len, used_ptr) = (a.u32(3), a.u32(4), a.u32(5));
    mem.slice_mut(buf, buf_len)?;
    mem.slice_mut(used_ptr, 4)?;
    let target = {
        let mut fds = ctx.fds();
        let at = fs::resolve(fds.dir(a.u32(0))?, &path)?;
        fs::readlink(&at)?
    };
    let n = target.len().min(buf_len as usize);
    mem.write(buf, &target[..n])?;
    mem.write_u32(used_ptr, n as u32)
}
