//! File descriptors and the sandbox.
//!
//! # The sandbox
//!
//! The guest reaches host files only through directories the embedder
//! pre-opened. A guest path is resolved component by component from such a
//! directory's descriptor, with `openat` on descriptors and never with a
//! host path string, so nothing can swap a component between the check and
//! the use:
//!
//! - an absolute path is refused;
//! - `.` is skipped and `..` goes back to the descriptor of the previous
//!   component; a `..` that would leave the directory the path started
//!   from is refused;
//! - every component is opened with `O_NOFOLLOW`, and the last one is used
//!   with `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW` (or, for operations that never
//!   follow links such as unlink and rename, as a plain name in its parent),
//!   so a symbolic link is never followed, wherever it points.
//!
//! A refusal is `ENOTCAPABLE` (wasi-libc's `strerror`: "Capabilities
//! insufficient"). A symbolic link inside a pre-open can still be listed,
//! stat'ed without following (`lstat`), read with `readlink`, renamed and
//! deleted.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::abi::*;
use super::errno::{Errno, WasiResult};
use super::stdio::{Input, Output};

/// Most descriptors one guest may have open at once.
pub(crate) const MAX_FDS: usize = 4096;

/// A directory descriptor: a pre-opened directory or one the guest opened
/// inside it.
pub(crate) struct Dir {
    pub(crate) fd: OwnedFd,
    /// The name the guest knows a pre-opened directory by.
    pub(crate) preopen: Option<Vec<u8>>,
    pub(crate) rights_base: u64,
    pub(crate) rights_inheriting: u64,
}

/// A regular file (or other non-directory) the guest opened.
pub(crate) struct OpenFile {
    pub(crate) file: File,
    pub(crate) rights_base: u64,
    pub(crate) rights_inheriting: u64,
}

/// What a guest descriptor refers to.
pub(crate) enum Entry {
    Input(Input),
    Output(Output),
    Dir(Dir),
    File(OpenFile),
}

fn cvt(ret: libc::c_int) -> WasiResult<libc::c_int> {
    if ret < 0 {
        Err(Errno::last_os_error())
    } else {
        Ok(ret)
    }
}

fn fstat_fd(fd: RawFd) -> WasiResult<libc::stat> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is a descriptor we own; `st` is writable.
    cvt(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

fn fstatat_nofollow(dir: RawFd, name: &CString) -> WasiResult<libc::stat> {
    // SAFETY: as in `fstat_fd`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `dir` is a live directory descriptor, `name` a C string
    // without `/`, `st` writable.
    cvt(unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

fn is_symlink(dir: RawFd, name: &CString) -> bool {
    fstatat_nofollow(dir, name).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK)
}

/// `openat(dir, name, flags)` for a single component; a symbolic link is
/// refused with `ENOTCAPABLE`.
fn openat_nofollow(
    dir: RawFd,
    name: &CString,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> WasiResult<OwnedFd> {
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `dir` is a live directory descriptor and `name` a C string.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags, libc::c_uint::from(mode)) };
    if fd < 0 {
        let errno = Errno::last_os_error();
        // O_NOFOLLOW answers ELOOP for a link (ENOTDIR with O_DIRECTORY).
        if matches!(errno, Errno::LOOP | Errno::NOTDIR) && is_symlink(dir, name) {
            return Err(Errno::NOTCAPABLE);
        }
        return Err(errno);
    }
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A guest path resolved inside a directory: the directory holding its last
/// component (kept open), and that component.
pub(crate) struct Resolved {
    /// Descriptors of the components walked through; the last one is the
    /// parent. Empty when the parent is the starting directory.
    held: Vec<OwnedFd>,
    root: RawFd,
    /// The last component: never empty, never contains `/`, `.` for the
    /// parent itself, never `..`.
    pub(crate) name: CString,
    /// The path ended with `/`: it must name a directory.
    pub(crate) trailing_slash: bool,
}

impl Resolved {
    pub(crate) fn parent(&self) -> RawFd {
        self.held.last().map_or(self.root, AsRawFd::as_raw_fd)
    }
}

/// Resolves `path` inside `dir` under the sandbox rules (module docs).
pub(crate) fn resolve(dir: &Dir, path: &[u8]) -> WasiResult<Resolved> {
    if path.is_empty() {
        return Err(Errno::NOENT);
    }
    if path.contains(&0) {
        return Err(Errno::INVAL);
    }
    if path[0] == b'/' {
        return Err(Errno::NOTCAPABLE);
    }
    let components: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    let trailing_slash = path.ends_with(b"/");
    let mut resolved = Resolved {
        held: Vec::new(),
        root: dir.fd.as_raw_fd(),
        name: CString::from(c"."),
        trailing_slash,
    };
    let Some((last, walk)) = components.split_last() else {
        return Err(Errno::NOENT);
    };
    for &component in walk {
        match component {
            b"." => {}
            b".." => {
                resolved.held.pop().ok_or(Errno::NOTCAPABLE)?;
            }
            name => {
                let name = CString::new(name).map_err(|_| Errno::INVAL)?;
                let fd = openat_nofollow(
                    resolved.parent(),
                    &name,
                    libc::O_PATH | libc::O_DIRECTORY,
                    0,
                )?;
                resolved.held.push(fd);
            }
        }
    }
    match *last {
        b"." => {}
        b".." => {
            resolved.held.pop().ok_or(Errno::NOTCAPABLE)?;
            resolved.trailing_slash = true;
        }
        name => resolved.name = CString::new(name).map_err(|_| Errno::INVAL)?,
    }
    Ok(resolved)
}

/// How `path_open` should open the last component.
pub(crate) struct OpenOptions {
    pub(crate) oflags: u16,
    pub(crate) fdflags: u16,
    pub(crate) rights_base: u64,
    pub(crate) rights_inheriting: u64,
}

/// `path_open` of a resolved path.
pub(crate) fn open(at: &Resolved, options: &OpenOptions) -> WasiResult<Entry> {
    let read = options.rights_base & (RIGHTS_FD_READ | RIGHTS_FD_READDIR) != 0;
    let write = options.rights_base
        & (RIGHTS_FD_WRITE | RIGHTS_FD_ALLOCATE | RIGHTS_FD_FILESTAT_SET_SIZE | RIGHTS_FD_DATASYNC)
        != 0
        || options.fdflags & FDFLAGS_APPEND != 0;
    let mut flags = match (read, write) {
        (true, true) => libc::O_RDWR,
        (false, true) => libc::O_WRONLY,
        _ => libc::O_RDONLY,
    };
    let o = options.oflags;
    if o & OFLAGS_CREAT != 0 {
        flags |= libc::O_CREAT;
    }
    if o & OFLAGS_DIRECTORY != 0 || at.trailing_slash {
        flags |= libc::O_DIRECTORY;
    }
    if o & OFLAGS_EXCL != 0 {
        flags |= libc::O_EXCL;
    }
    if o & OFLAGS_TRUNC != 0 {
        flags |= libc::O_TRUNC;
    }
    let f = options.fdflags;
    if f & FDFLAGS_APPEND != 0 {
        flags |= libc::O_APPEND;
    }
    if f & FDFLAGS_NONBLOCK != 0 {
        flags |= libc::O_NONBLOCK;
    }
    if f & FDFLAGS_DSYNC != 0 {
        flags |= libc::O_DSYNC;
    }
    if f & (FDFLAGS_SYNC | FDFLAGS_RSYNC) != 0 {
        flags |= libc::O_SYNC;
    }
    let fd = openat_nofollow(at.parent(), &at.name, flags, 0o666)?;
    let st = fstat_fd(fd.as_raw_fd())?;
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        Ok(Entry::Dir(Dir {
            fd,
            preopen: None,
            rights_base: options.rights_base & RIGHTS_DIR,
            rights_inheriting: options.rights_inheriting,
        }))
    } else {
        Ok(Entry::File(OpenFile {
            file: File::from(fd),
            rights_base: options.rights_base & RIGHTS_FILE,
            rights_inheriting: options.rights_inheriting,
        }))
    }
}

/// `path_filestat_get`: the status of the last component itself, refused
/// when it is a symbolic link the guest asked to follow.
pub(crate) fn stat(at: &Resolved, follow: bool) -> WasiResult<Filestat> {
    let st = fstatat_nofollow(at.parent(), &at.name)?;
    let filestat = Filestat::from(&st);
    if filestat.filetype == FILETYPE_SYMBOLIC_LINK && follow {
        return Err(Errno::NOTCAPABLE);
    }
    if at.trailing_slash && filestat.filetype != FILETYPE_DIRECTORY {
        return Err(Errno::NOTDIR);
    }
    Ok(filestat)
}

pub(crate) fn create_directory(at: &Resolved) -> WasiResult {
    // SAFETY: a live directory descriptor and a single-component C string.
    cvt(unsafe { libc::mkdirat(at.parent(), at.name.as_ptr(), 0o777) })?;
    Ok(())
}

/// `unlinkat`: a file (or link) with `dir == false`, a directory otherwise.
pub(crate) fn unlink(at: &Resolved, dir: bool) -> WasiResult {
    if !dir && at.trailing_slash {
        // POSIX: "file/" names a directory.
        return Err(if is_symlink(at.parent(), &at.name) {
            Errno::NOTDIR
        } else {
            Errno::ISDIR
        });
    }
    let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: a live directory descriptor and a single-component C string.
    cvt(unsafe { libc::unlinkat(at.parent(), at.name.as_ptr(), flags) })?;
    Ok(())
}

pub(crate) fn rename(from: &Resolved, to: &Resolved) -> WasiResult {
    // SAFETY: live directory descriptors and single-component C strings.
    cvt(unsafe {
        libc::renameat(
            from.parent(),
            from.name.as_ptr(),
            to.parent(),
            to.name.as_ptr(),
        )
    })?;
    Ok(())
}

/// The target of a symbolic link (never followed by the sandbox).
pub(crate) fn readlink(at: &Resolved) -> WasiResult<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: a live directory descriptor, a C string, a writable buffer.
    let n = unsafe {
        libc::readlinkat(
            at.parent(),
            at.name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(Errno::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

impl Dir {
    /// Opens the host directory `host` for the guest to know as `guest`.
    pub(crate) fn preopen(host: &Path, guest: Vec<u8>) -> io::Result<Dir> {
        let file = File::open(host)?;
        if !file.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", host.display()),
            ));
        }
        Ok(Dir {
            fd: OwnedFd::from(file),
            preopen: Some(guest),
            rights_base: RIGHTS_DIR,
            rights_inheriting: RIGHTS_DIR | RIGHTS_FILE,
        })
    }

    /// The entries of the directory, `.` and `..` included, in the order
    /// the host lists them: `(name, inode, filetype)`.
    pub(crate) fn entries(&self) -> WasiResult<Vec<(Vec<u8>, u64, u8)>> {
        let fd = openat_nofollow(
            self.fd.as_raw_fd(),
            &CString::from(c"."),
            libc::O_RDONLY | libc::O_DIRECTORY,
            0,
        )?;
        let raw = fd.as_raw_fd();
        // SAFETY: `raw` is an open directory descriptor; on success the
        // stream owns it (closedir closes it), so ownership is released.
        let stream = unsafe { libc::fdopendir(raw) };
        if stream.is_null() {
            return Err(Errno::last_os_error());
        }
        std::mem::forget(fd);
        let mut out = Vec::new();
        loop {
            // SAFETY: `stream` is a live DIR*; errno tells end from failure.
            let entry = unsafe {
                *libc::__errno_location() = 0;
                libc::readdir(stream)
            };
            if entry.is_null() {
                // SAFETY: reading this thread's errno.
                let errno = unsafe { *libc::__errno_location() };
                // SAFETY: `stream` is live and closed exactly once.
                unsafe { libc::closedir(stream) };
                if errno != 0 {
                    return Err(Errno::from_raw_os_error(errno));
                }
                return Ok(out);
            }
            // SAFETY: readdir returned a valid dirent, whose name is a C
            // string, alive until the next readdir on this stream.
            let (name, ino, d_type) = unsafe {
                let e = &*entry;
                let name = std::ffi::CStr::from_ptr(e.d_name.as_ptr())
                    .to_bytes()
                    .to_vec();
                (name, e.d_ino, e.d_type)
            };
            let filetype = match d_type {
                libc::DT_REG => FILETYPE_REGULAR_FILE,
                libc::DT_DIR => FILETYPE_DIRECTORY,
                libc::DT_LNK => FILETYPE_SYMBOLIC_LINK,
                libc::DT_CHR => FILETYPE_CHARACTER_DEVICE,
                libc::DT_BLK => FILETYPE_BLOCK_DEVICE,
                libc::DT_SOCK => FILETYPE_SOCKET_STREAM,
                _ => CString::new(name.clone())
                    .ok()
                    .and_then(|n| fstatat_nofollow(self.fd.as_raw_fd(), &n).ok())
                    .map_or(FILETYPE_UNKNOWN, |st| filetype_of_mode(st.st_mode)),
            };
            out.push((name, ino, filetype));
        }
    }
}

fn fdflags_of(fd: RawFd) -> WasiResult<u16> {
    // SAFETY: F_GETFL only reads the descriptor's flags.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let mut out = 0;
    if flags & libc::O_APPEND != 0 {
        out |= FDFLAGS_APPEND;
    }
    if flags & libc::O_NONBLOCK != 0 {
        out |= FDFLAGS_NONBLOCK;
    }
    if flags & libc::O_SYNC == libc::O_SYNC {
        out |= FDFLAGS_SYNC;
    } else if flags & libc::O_DSYNC != 0 {
        out |= FDFLAGS_DSYNC;
    }
    Ok(out)
}

impl Entry {
    pub(crate) fn fdstat(&self) -> WasiResult<Fdstat> {
        Ok(match self {
            Entry::Input(input) => Fdstat {
                filetype: input.filetype(),
                flags: 0,
                rights_base: RIGHTS_STDIO & !RIGHTS_FD_WRITE,
                rights_inheriting: 0,
            },
            Entry::Output(output) => Fdstat {
                filetype: output.filetype(),
                flags: FDFLAGS_APPEND,
                rights_base: RIGHTS_STDIO & !RIGHTS_FD_READ,
                rights_inheriting: 0,
            },
            Entry::Dir(dir) => Fdstat {
                filetype: FILETYPE_DIRECTORY,
                flags: fdflags_of(dir.fd.as_raw_fd())?,
                rights_base: dir.rights_base,
                rights_inheriting: dir.rights_inheriting,
            },
            Entry::File(file) => {
                let st = fstat_fd(file.file.as_raw_fd())?;
                Fdstat {
                    filetype: filetype_of_mode(st.st_mode),
                    flags: fdflags_of(file.file.as_raw_fd())?,
                    rights_base: file.rights_base,
                    rights_inheriting: file.rights_inheriting,
                }
            }
        })
    }

    /// `fd_fdstat_set_flags`: append and non-blocking can change on files
    /// and directories; the sync flags cannot change after opening.
    pub(crate) fn set_fdflags(&mut self, flags: u16) -> WasiResult {
        let fd = match self {
            Entry::Dir(dir) => dir.fd.as_raw_fd(),
            Entry::File(file) => file.file.as_raw_fd(),
            Entry::Input(_) | Entry::Output(_) => return Err(Errno::NOTSUP),
        };
        if flags & (FDFLAGS_DSYNC | FDFLAGS_RSYNC | FDFLAGS_SYNC) != 0 {
            return Err(Errno::NOTSUP);
        }
        // SAFETY: reading and setting the flags of a descriptor we own.
        let mut host = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
        host &= !(libc::O_APPEND | libc::O_NONBLOCK);
        if flags & FDFLAGS_APPEND != 0 {
            host |= libc::O_APPEND;
        }
        if flags & FDFLAGS_NONBLOCK != 0 {
            host |= libc::O_NONBLOCK;
        }
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, host) })?;
        Ok(())
    }

    pub(crate) fn filestat(&self) -> WasiResult<Filestat> {
        match self {
            Entry::Input(input) => Ok(Filestat {
                filetype: input.filetype(),
                ..Filestat::default()
            }),
            Entry::Output(output) => Ok(Filestat {
                filetype: output.filetype(),
                ..Filestat::default()
            }),
            Entry::Dir(dir) => Ok(Filestat::from(&fstat_fd(dir.fd.as_raw_fd())?)),
            Entry::File(file) => Ok(Filestat::from(&fstat_fd(file.file.as_raw_fd())?)),
        }
    }

    /// Whether [`Entry::read`] would return without waiting for input
    /// (only the host's stdin ever waits: see `Input::read_ready`).
    pub(crate) fn read_ready(&self) -> bool {
        match self {
            Entry::Input(input) => input.read_ready(),
            _ => true,
        }
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> WasiResult<usize> {
        match self {
            Entry::Input(input) => Ok(input.read(buf)?),
            Entry::File(file) => Ok(file.file.read(buf)?),
            Entry::Dir(_) => Err(Errno::ISDIR),
            Entry::Output(_) => Err(Errno::BADF),
        }
    }

    /// Whether a write would return without waiting (see
    /// `Output::write_ready`).
    pub(crate) fn write_ready(&self) -> bool {
        match self {
            Entry::Output(output) => output.write_ready(),
            _ => true,
        }
    }

    /// The host descriptor (stdout or stderr) that writes to this entry
    /// may wait on.
    pub(crate) fn host_output_fd(&self) -> Option<i32> {
        match self {
            Entry::Output(output) => output.host_fd(),
            _ => None,
        }
    }

    pub(crate) fn write(&mut self, buf: &[u8]) -> WasiResult<usize> {
        match self {
            Entry::Output(output) => Ok(output.write(buf)?),
            Entry::File(file) => Ok(file.file.write(buf)?),
            Entry::Dir(_) => Err(Errno::ISDIR),
            Entry::Input(_) => Err(Errno::BADF),
        }
    }

    pub(crate) fn pread(&mut self, buf: &mut [u8], offset: u64) -> WasiResult<usize> {
        match self {
            Entry::File(file) => Ok(file.file.read_at(buf, offset)?),
            Entry::Dir(_) => Err(Errno::ISDIR),
            Entry::Input(_) | Entry::Output(_) => Err(Errno::SPIPE),
        }
    }

    pub(crate) fn pwrite(&mut self, buf: &[u8], offset: u64) -> WasiResult<usize> {
        match self {
            Entry::File(file) => Ok(file.file.write_at(buf, offset)?),
            Entry::Dir(_) => Err(Errno::ISDIR),
            Entry::Input(_) | Entry::Output(_) => Err(Errno::SPIPE),
        }
    }

    pub(crate) fn seek(&mut self, offset: i64, whence: u8) -> WasiResult<u64> {
        let file = match self {
            Entry::File(file) => &mut file.file,
            Entry::Dir(_) => return Err(Errno::BADF),
            Entry::Input(_) | Entry::Output(_) => return Err(Errno::SPIPE),
        };
        let pos = match whence {
            WHENCE_SET => SeekFrom::Start(u64::try_from(offset).map_err(|_| Errno::INVAL)?),
            WHENCE_CUR => SeekFrom::Current(offset),
            WHENCE_END => SeekFrom::End(offset),
            _ => return Err(Errno::INVAL),
        };
        Ok(file.seek(pos)?)
    }

    pub(crate) fn file(&mut self) -> WasiResult<&mut File> {
        match self {
            Entry::File(file) => Ok(&mut file.file),
            Entry::Dir(_) => Err(Errno::ISDIR),
            Entry::Input(_) | Entry::Output(_) => Err(Errno::INVAL),
        }
    }
}

/// The guest's descriptors: 0, 1 and 2 are stdio, pre-opened directories
/// follow from 3.
pub(crate) struct FdTable {
    entries: Vec<Option<Entry>>,
}

impl FdTable {
    pub(crate) fn new(entries: Vec<Entry>) -> FdTable {
        FdTable {
            entries: entries.into_iter().map(Some).collect(),
        }
    }

    pub(crate) fn get(&mut self, fd: u32) -> WasiResult<&mut Entry> {
        self.entries
            .get_mut(fd as usize)
            .and_then(Option::as_mut)
            .ok_or(Errno::BADF)
    }

    /// A directory descriptor (for the path functions).
    pub(crate) fn dir(&mut self, fd: u32) -> WasiResult<&Dir> {
        match self.get(fd)? {
            Entry::Dir(dir) => Ok(dir),
            _ => Err(Errno::NOTDIR),
        }
    }

    /// Stores `entry` under the lowest free descriptor.
    pub(crate) fn insert(&mut self, entry: Entry) -> WasiResult<u32> {
        if let Some(free) = self.entries.iter().position(Option::is_none) {
            self.entries[free] = Some(entry);
            return Ok(free as u32);
        }
        if self.entries.len() >= MAX_FDS {
            return Err(Errno::MFILE);
        }
        self.entries.push(Some(entry));
        Ok(self.entries.len() as u32 - 1)
    }

    pub(crate) fn remove(&mut self, fd: u32) -> WasiResult<Entry> {
        self.entries
            .get_mut(fd as usize)
            .and_then(Option::take)
            .ok_or(Errno::BADF)
    }

    /// `fd_renumber`: moves `from` to `to`, closing what `to` was.
    pub(crate) fn renumber(&mut self, from: u32, to: u32) -> WasiResult {
        self.get(from)?;
        self.get(to)?;
        if from != to {
            let entry = self.remove(from)?;
            self.entries[to as usize] = Some(entry);
        }
        Ok(())
    }
}
