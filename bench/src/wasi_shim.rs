//! A small WASI preview1 host for the peers (wasmtime and Wasmer) in the
//! programs mode: one implementation, engine-independent, reached through
//! each engine's untyped host-function API (`Linker::func_new`,
//! `Function::new_with_env`), as vibewasm's own WASI is through its
//! `Linker::func_new`.
//!
//! It gives a command program exactly what the corpus's programs get from
//! `vibewasmc run` and from the corpus's reference runner: `argv`, no
//! environment variables, no pre-opened directories, an empty stdin, and
//! stdout and stderr captured in memory. It mirrors what vibewasm's WASI
//! tells a program about captured stdio (filetype unknown, append flag, the
//! same rights), so that wasi-libc buffers stdout the same way on every
//! engine and the programs make the same calls. Randomness is a fixed
//! sequence (the runs are compared byte for byte); clocks are the host's.
//!
//! A function the shim does not implement still links (every program
//! instantiates) and returns `ENOSYS`; [`WasiShim::unsupported_calls`]
//! lists those that were called, so a report can say so.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The import module of every preview1 function.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// WASI errno values (`wasi_snapshot_preview1`'s `errno` enum).
pub mod errno {
    pub const SUCCESS: i32 = 0;
    pub const BADF: i32 = 8;
    pub const FAULT: i32 = 21;
    pub const INVAL: i32 = 28;
    pub const NOSYS: i32 = 52;
    pub const NOTSUP: i32 = 58;
    pub const SPIPE: i32 = 70;
}

const FILETYPE_UNKNOWN: u8 = 0;
const FDFLAGS_APPEND: u16 = 1;
const RIGHTS_FD_READ: u64 = 1 << 1;
const RIGHTS_FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
const RIGHTS_FD_WRITE: u64 = 1 << 6;
const RIGHTS_FD_FILESTAT_GET: u64 = 1 << 21;
const RIGHTS_POLL_FD_READWRITE: u64 = 1 << 27;
/// What vibewasm's WASI gives stdin, stdout and stderr (less the write
/// right on stdin and the read right on the outputs).
const RIGHTS_STDIO: u64 = RIGHTS_FD_READ
    | RIGHTS_FD_WRITE
    | RIGHTS_FD_FDSTAT_SET_FLAGS
    | RIGHTS_FD_FILESTAT_GET
    | RIGHTS_POLL_FD_READWRITE;

/// The guest's linear memory as a host function sees it. Every access is
/// bounds-checked; an access outside the memory is `EFAULT`.
pub trait GuestMemory {
    fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), i32>;
    fn write(&mut self, addr: u32, bytes: &[u8]) -> Result<(), i32>;
}

/// A memory the host can see as one slice (wasmtime's `Memory::data_mut`).
pub struct SliceMemory<'a>(pub &'a mut [u8]);

impl GuestMemory for SliceMemory<'_> {
    fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), i32> {
        let start = addr as usize;
        let bytes = start
            .checked_add(buf.len())
            .and_then(|end| self.0.get(start..end))
            .ok_or(errno::FAULT)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }

    fn write(&mut self, addr: u32, bytes: &[u8]) -> Result<(), i32> {
        let start = addr as usize;
        let dest = start
            .checked_add(bytes.len())
            .and_then(|end| self.0.get_mut(start..end))
            .ok_or(errno::FAULT)?;
        dest.copy_from_slice(bytes);
        Ok(())
    }
}

fn read_u32(mem: &dyn GuestMemory, addr: u32) -> Result<u32, i32> {
    let mut b = [0; 4];
    mem.read(addr, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn write_u32(mem: &mut dyn GuestMemory, addr: u32, value: u32) -> Result<(), i32> {
    mem.write(addr, &value.to_le_bytes())
}

fn write_u64(mem: &mut dyn GuestMemory, addr: u32, value: u64) -> Result<(), i32> {
    mem.write(addr, &value.to_le_bytes())
}

/// `proc_exit` was called: the host function must end the call (a trap or
/// an error, as the engine has it); [`WasiShim::exit_status`] has the status.
#[derive(Debug)]
pub struct Exit;

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("proc_exit")
    }
}

impl std::error::Error for Exit {}

/// The state of one program: its arguments, its output so far, its exit
/// status once it called `proc_exit`.
#[derive(Debug)]
pub struct WasiShim {
    args: Vec<Vec<u8>>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    exit_status: Option<i32>,
    rng: u64,
    unsupported: BTreeSet<String>,
}

/// One host function: the shim's state, the caller's memory and the
/// arguments (each as its raw bits, an i32 zero-extended); `Ok(errno)`.
pub type HostFn = fn(&mut WasiShim, &mut dyn GuestMemory, &[u64]) -> Result<i32, Exit>;

/// A parameter or result type of a preview1 function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    I32,
    I64,
}

/// A function the shim implements: its name, its parameters (`i` for i32,
/// `I` for i64) and whether it returns an errno (all but `proc_exit`).
pub struct Func {
    pub name: &'static str,
    params: &'static str,
    pub returns_errno: bool,
    pub body: HostFn,
}

impl Func {
    pub fn params(&self) -> impl Iterator<Item = Ty> + '_ {
        self.params
            .bytes()
            .map(|c| if c == b'I' { Ty::I64 } else { Ty::I32 })
    }

    /// Whether an import of type `params -> results` can be this function.
    pub fn matches(&self, params: &[Ty], results: &[Ty]) -> bool {
        let want_results: &[Ty] = if self.returns_errno { &[Ty::I32] } else { &[] };
        self.params().eq(params.iter().copied()) && results == want_results
    }
}

macro_rules! funcs {
    ($($name:ident $params:literal $errno:literal,)*) => {
        /// Every function the shim implements.
        pub const FUNCS: &[Func] = &[$(Func {
            name: stringify!($name),
            params: $params,
            returns_errno: $errno,
            body: $name,
        }),*];
    };
}

funcs! {
    args_get "ii" true,
    args_sizes_get "ii" true,
    environ_get "ii" true,
    environ_sizes_get "ii" true,
    clock_res_get "ii" true,
    clock_time_get "iIi" true,
    random_get "ii" true,
    proc_exit "i" false,
    sched_yield "" true,
    fd_write "iiii" true,
    fd_read "iiii" true,
    fd_close "i" true,
    fd_seek "iIii" true,
    fd_tell "ii" true,
    fd_sync "i" true,
    fd_fdstat_get "ii" true,
    fd_fdstat_set_flags "ii" true,
    fd_filestat_get "ii" true,
    fd_prestat_get "ii" true,
    fd_prestat_dir_name "iii" true,
}

/// The function `name`, if the shim implements it.
pub fn lookup(name: &str) -> Option<&'static Func> {
    FUNCS.iter().find(|f| f.name == name)
}

/// What the host function for one import of [`MODULE`] does.
#[derive(Clone)]
pub enum Binding {
    /// A function the shim implements.
    Func(&'static Func),
    /// One it does not: returns `ENOSYS` (and remembers the call).
    Unsupported(String),
}

impl Binding {
    /// The binding of import `name: params -> results`: an error when the
    /// type is not the function's (the program would not link elsewhere
    /// either) or, for a function the shim lacks, when it returns no errno.
    pub fn new(name: &str, params: &[Ty], results: &[Ty]) -> anyhow::Result<Binding> {
        match lookup(name) {
            Some(func) if func.matches(params, results) => Ok(Binding::Func(func)),
            Some(_) => anyhow::bail!("import {MODULE}::{name} has the wrong type"),
            None if results == [Ty::I32] => Ok(Binding::Unsupported(name.to_string())),
            None => {
                anyhow::bail!("import {MODULE}::{name}: not a preview1 function the shim knows")
            }
        }
    }

    /// Whether the host function returns an errno (everything but `proc_exit`).
    pub fn returns_errno(&self) -> bool {
        match self {
            Binding::Func(func) => func.returns_errno,
            Binding::Unsupported(_) => true,
        }
    }

    /// Calls it: `Ok(errno)`, or `Err` when the program exits.
    pub fn call(
        &self,
        shim: &mut WasiShim,
        mem: &mut dyn GuestMemory,
        args: &[u64],
    ) -> Result<i32, Exit> {
        match self {
            Binding::Func(func) => (func.body)(shim, mem, args),
            Binding::Unsupported(name) => Ok(shim.unsupported(name)),
        }
    }
}

impl WasiShim {
    /// A program with these arguments (`argv[0]` first).
    pub fn new(argv: &[String]) -> WasiShim {
        WasiShim {
            args: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
            stdout: Vec::new(),
            stderr: Vec::new(),
            exit_status: None,
            rng: 0x9E37_79B9_7F4A_7C15,
            unsupported: BTreeSet::new(),
        }
    }

    /// The status the program passed to `proc_exit`, if it did.
    pub fn exit_status(&self) -> Option<i32> {
        self.exit_status
    }

    /// What an import the shim does not implement does when called:
    /// remembers its name and returns `ENOSYS`.
    pub fn unsupported(&mut self, name: &str) -> i32 {
        if !self.unsupported.contains(name) {
            self.unsupported.insert(name.to_string());
        }
        errno::NOSYS
    }

    /// The unimplemented functions the program called.
    pub fn unsupported_calls(&self) -> Vec<String> {
        self.unsupported.iter().cloned().collect()
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64: a fixed sequence, the same on every engine and run.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Runs `f`, turning an errno into a plain return value.
fn errno(f: impl FnOnce() -> Result<(), i32>) -> Result<i32, Exit> {
    Ok(match f() {
        Ok(()) => errno::SUCCESS,
        Err(e) => e,
    })
}

fn a32(args: &[u64], i: usize) -> u32 {
    args[i] as u32
}

/// `strings_get`: writes the pointers to `argv` (or `environ`) and the
/// NUL-terminated strings to `buf`.
fn strings_get(
    strings: &[Vec<u8>],
    mem: &mut dyn GuestMemory,
    ptrs: u32,
    buf: u32,
) -> Result<(), i32> {
    let mut at = buf;
    for (i, s) in strings.iter().enumerate() {
        write_u32(mem, ptrs.wrapping_add(4 * i as u32), at)?;
        mem.write(at, s)?;
        mem.write(at.wrapping_add(s.len() as u32), &[0])?;
        at = at.wrapping_add(s.len() as u32 + 1);
    }
    Ok(())
}

fn strings_sizes(
    strings: &[Vec<u8>],
    mem: &mut dyn GuestMemory,
    count: u32,
    size: u32,
) -> Result<(), i32> {
    let bytes: usize = strings.iter().map(|s| s.len() + 1).sum();
    write_u32(mem, count, strings.len() as u32)?;
    write_u32(mem, size, bytes as u32)
}

fn args_get(s: &mut WasiShim, mem: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| strings_get(&s.args, mem, a32(a, 0), a32(a, 1)))
}

fn args_sizes_get(s: &mut WasiShim, mem: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| strings_sizes(&s.args, mem, a32(a, 0), a32(a, 1)))
}

fn environ_get(_: &mut WasiShim, mem: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| strings_get(&[], mem, a32(a, 0), a32(a, 1)))
}

fn environ_sizes_get(_: &mut WasiShim, mem: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| strings_sizes(&[], mem, a32(a, 0), a32(a, 1)))
}

/// Nanoseconds of clock `id`: realtime (0) from the host's clock, the
/// monotonic (1) and CPU-time (2, 3) clocks since the first call.
fn clock_ns(id: u32) -> Result<u64, i32> {
    static START: OnceLock<Instant> = OnceLock::new();
    match id {
        0 => Ok(SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)),
        1..=3 => Ok(START.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1),
        _ => Err(errno::INVAL),
    }
}

fn clock_res_get(_: &mut WasiShim, mem: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| {
        clock_ns(a32(a, 0))?;
        write_u64(mem, a32(a, 1), 1)
    })
}

fn clock_time_get(_: &mut WasiShim, mem: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| write_u64(mem, a32(a, 2), clock_ns(a32(a, 0))?))
}

fn random_get(s: &mut WasiShim, mem: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| {
        let mut bytes = vec![0u8; a32(a, 1) as usize];
        for chunk in bytes.chunks_mut(8) {
            let r = s.next_random().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        mem.write(a32(a, 0), &bytes)
    })
}

fn proc_exit(s: &mut WasiShim, _: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    s.exit_status = Some(a32(a, 0) as i32);
    Err(Exit)
}

fn sched_yield(_: &mut WasiShim, _: &mut dyn GuestMemory, _: &[u64]) -> Result<i32, Exit> {
    Ok(errno::SUCCESS)
}

/// Checks that `fd` is stdin (0), stdout (1) or stderr (2), the only
/// descriptors a program has here.
fn stdio(fd: u32) -> Result<u32, i32> {
    if fd <= 2 {
        Ok(fd)
    } else {
        Err(errno::BADF)
    }
}

fn fd_write(s: &mut WasiShim, mem: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| {
        let out = match stdio(a32(a, 0))? {
            1 => &mut s.stdout,
            2 => &mut s.stderr,
            _ => return Err(errno::BADF),
        };
        let (iovs, count) = (a32(a, 1), a32(a, 2));
        let mut written = 0u32;
        for i in 0..count {
            let iov = iovs.wrapping_add(8 * i);
            let (ptr, len) = (read_u32(mem, iov)?, read_u32(mem, iov.wrapping_add(4))?);
            let start = out.len();
            out.resize(start + len as usize, 0);
            if let Err(e) = mem.read(ptr, &mut out[start..]) {
                out.truncate(start);
                return Err(e);
            }
            written = written.wrapping_add(len);
        }
        write_u32(mem, a32(a, 3), written)
    })
}

fn fd_read(_: &mut WasiShim, mem: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| match stdio(a32(a, 0))? {
        // stdin is empty: end of file at once.
        0 => write_u32(mem, a32(a, 3), 0),
        _ => Err(errno::BADF),
    })
}

fn fd_close(_: &mut WasiShim, _: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| stdio(a32(a, 0)).map(drop))
}

fn fd_seek(_: &mut WasiShim, _: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| {
        stdio(a32(a, 0))?;
        Err(errno::SPIPE)
    })
}

fn fd_tell(_: &mut WasiShim, _: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| {
        stdio(a32(a, 0))?;
        Err(errno::SPIPE)
    })
}

fn fd_sync(_: &mut WasiShim, _: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| stdio(a32(a, 0)).map(drop))
}

fn fd_fdstat_get(_: &mut WasiShim, mem: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| {
        let (flags, rights) = match stdio(a32(a, 0))? {
            0 => (0, RIGHTS_STDIO & !RIGHTS_FD_WRITE),
            _ => (FDFLAGS_APPEND, RIGHTS_STDIO & !RIGHTS_FD_READ),
        };
        let mut stat = [0u8; 24];
        stat[0] = FILETYPE_UNKNOWN;
        stat[2..4].copy_from_slice(&flags.to_le_bytes());
        stat[8..16].copy_from_slice(&rights.to_le_bytes());
        mem.write(a32(a, 1), &stat)
    })
}

fn fd_fdstat_set_flags(_: &mut WasiShim, _: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| {
        stdio(a32(a, 0))?;
        Err(errno::NOTSUP)
    })
}

fn fd_filestat_get(_: &mut WasiShim, mem: &mut dyn GuestMemory, a: &[u64]) -> Result<i32, Exit> {
    errno(|| {
        stdio(a32(a, 0))?;
        let mut stat = [0u8; 64];
        stat[16] = FILETYPE_UNKNOWN;
        mem.write(a32(a, 1), &stat)
    })
}

fn fd_prestat_get(_: &mut WasiShim, _: &mut dyn GuestMemory, _: &[u64]) -> Result<i32, Exit> {
    // No pre-opened directories: the first descriptor wasi-libc asks about
    // (3) ends its scan.
    Ok(errno::BADF)
}

fn fd_prestat_dir_name(_: &mut WasiShim, _: &mut dyn GuestMemory, _: &[u64]) -> Result<i32, Exit> {
    Ok(errno::BADF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(shim: &mut WasiShim, mem: &mut [u8], name: &str, args: &[u64]) -> Result<i32, Exit> {
        (lookup(name).unwrap().body)(shim, &mut SliceMemory(mem), args)
    }

    #[test]
    fn args_and_fd_write() {
        let mut shim = WasiShim::new(&["prog".into(), "10".into()]);
        let mut mem = vec![0u8; 256];
        assert_eq!(
            call(&mut shim, &mut mem, "args_sizes_get", &[0, 4]).unwrap(),
            0
        );
        assert_eq!(&mem[0..8], &[2, 0, 0, 0, 8, 0, 0, 0]);
        assert_eq!(call(&mut shim, &mut mem, "args_get", &[16, 32]).unwrap(), 0);
        assert_eq!(&mem[16..24], &[32, 0, 0, 0, 37, 0, 0, 0]);
        assert_eq!(&mem[32..40], b"prog\x0010\x00");
        // Two iovecs at 64: "prog" and "10"; bytes written at 80.
        mem[64..80].copy_from_slice(&[32, 0, 0, 0, 4, 0, 0, 0, 37, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(
            call(&mut shim, &mut mem, "fd_write", &[1, 64, 2, 80]).unwrap(),
            0
        );
        assert_eq!(shim.stdout, b"prog10");
        assert_eq!(&mem[80..84], &[6, 0, 0, 0]);
        assert_eq!(
            call(&mut shim, &mut mem, "fd_write", &[3, 64, 2, 80]).unwrap(),
            errno::BADF
        );
        // An iovec past the end of memory: EFAULT, nothing written.
        mem[64..72].copy_from_slice(&[250, 0, 0, 0, 10, 0, 0, 0]);
        assert_eq!(
            call(&mut shim, &mut mem, "fd_write", &[2, 64, 1, 80]).unwrap(),
            errno::FAULT
        );
        assert!(shim.stderr.is_empty());
    }

    #[test]
    fn exit_random_and_signatures() {
        let mut shim = WasiShim::new(&[]);
        let mut mem = vec![0u8; 64];
        assert!(call(&mut shim, &mut mem, "proc_exit", &[7]).is_err());
        assert_eq!(shim.exit_status(), Some(7));
        call(&mut shim, &mut mem, "random_get", &[0, 13]).unwrap();
        let first = mem[..13].to_vec();
        let mut again = WasiShim::new(&[]);
        call(&mut again, &mut mem, "random_get", &[0, 13]).unwrap();
        assert_eq!(mem[..13], first[..]);
        let fd_write = lookup("fd_write").unwrap();
        assert!(fd_write.matches(&[Ty::I32; 4], &[Ty::I32]));
        assert!(!fd_write.matches(&[Ty::I32; 3], &[Ty::I32]));
        assert!(lookup("proc_exit").unwrap().matches(&[Ty::I32], &[]));
        assert!(lookup("clock_time_get")
            .unwrap()
            .matches(&[Ty::I32, Ty::I64, Ty::I32], &[Ty::I32]));
        assert_eq!(shim.unsupported("path_open"), errno::NOSYS);
        assert_eq!(shim.unsupported_calls(), ["path_open"]);
    }
}
