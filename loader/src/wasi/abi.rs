//! The preview1 ABI: constants and the layouts of the structures passed
//! through guest memory (offsets and sizes from the `wasi_snapshot_preview1`
//! witx definitions, wasm32, little-endian).

use super::errno::WasiResult;
use super::mem::GuestMemory;

// filetype (u8)
pub(crate) const FILETYPE_UNKNOWN: u8 = 0;
pub(crate) const FILETYPE_BLOCK_DEVICE: u8 = 1;
pub(crate) const FILETYPE_CHARACTER_DEVICE: u8 = 2;
pub(crate) const FILETYPE_DIRECTORY: u8 = 3;
pub(crate) const FILETYPE_REGULAR_FILE: u8 = 4;
pub(crate) const FILETYPE_SOCKET_STREAM: u8 = 6;
pub(crate) const FILETYPE_SYMBOLIC_LINK: u8 = 7;

// fdflags (u16)
pub(crate) const FDFLAGS_APPEND: u16 = 1 << 0;
pub(crate) const FDFLAGS_DSYNC: u16 = 1 << 1;
pub(crate) const FDFLAGS_NONBLOCK: u16 = 1 << 2;
pub(crate) const FDFLAGS_RSYNC: u16 = 1 << 3;
pub(crate) const FDFLAGS_SYNC: u16 = 1 << 4;

// oflags (u16)
pub(crate) const OFLAGS_CREAT: u16 = 1 << 0;
pub(crate) const OFLAGS_DIRECTORY: u16 = 1 << 1;
pub(crate) const OFLAGS_EXCL: u16 = 1 << 2;
pub(crate) const OFLAGS_TRUNC: u16 = 1 << 3;

// lookupflags (u32)
pub(crate) const LOOKUPFLAGS_SYMLINK_FOLLOW: u32 = 1 << 0;

// whence (u8)
pub(crate) const WHENCE_SET: u8 = 0;
pub(crate) const WHENCE_CUR: u8 = 1;
pub(crate) const WHENCE_END: u8 = 2;

// preopentype (u8)
pub(crate) const PREOPENTYPE_DIR: u8 = 0;

// eventtype (u8) and subclockflags (u16)
pub(crate) const EVENTTYPE_CLOCK: u8 = 0;
pub(crate) const EVENTTYPE_FD_READ: u8 = 1;
pub(crate) const EVENTTYPE_FD_WRITE: u8 = 2;
pub(crate) const SUBCLOCKFLAGS_ABSTIME: u16 = 1 << 0;

// rights (u64)
pub(crate) const RIGHTS_FD_DATASYNC: u64 = 1 << 0;
pub(crate) const RIGHTS_FD_READ: u64 = 1 << 1;
pub(crate) const RIGHTS_FD_SEEK: u64 = 1 << 2;
pub(crate) const RIGHTS_FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
pub(crate) const RIGHTS_FD_SYNC: u64 = 1 << 4;
pub(crate) const RIGHTS_FD_TELL: u64 = 1 << 5;
pub(crate) const RIGHTS_FD_WRITE: u64 = 1 << 6;
pub(crate) const RIGHTS_FD_ADVISE: u64 = 1 << 7;
pub(crate) const RIGHTS_FD_ALLOCATE: u64 = 1 << 8;
pub(crate) const RIGHTS_PATH_CREATE_DIRECTORY: u64 = 1 << 9;
pub(crate) const RIGHTS_PATH_CREATE_FILE: u64 = 1 << 10;
pub(crate) const RIGHTS_PATH_LINK_SOURCE: u64 = 1 << 11;
pub(crate) const RIGHTS_PATH_LINK_TARGET: u64 = 1 << 12;
pub(crate) const RIGHTS_PATH_OPEN: u64 = 1 << 13;
pub(crate) const RIGHTS_FD_READDIR: u64 = 1 << 14;
pub(crate) const RIGHTS_PATH_READLINK: u64 = 1 << 15;
pub(crate) const RIGHTS_PATH_RENAME_SOURCE: u64 = 1 << 16;
pub(crate) const RIGHTS_PATH_RENAME_TARGET: u64 = 1 << 17;
pub(crate) const RIGHTS_PATH_FILESTAT_GET: u64 = 1 << 18;
pub(crate) const RIGHTS_PATH_FILESTAT_SET_SIZE: u64 = 1 << 19;
pub(crate) const RIGHTS_PATH_FILESTAT_SET_TIMES: u64 = 1 << 20;
pub(crate) const RIGHTS_FD_FILESTAT_GET: u64 = 1 << 21;
pub(crate) const RIGHTS_FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
pub(crate) const RIGHTS_FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
pub(crate) const RIGHTS_PATH_SYMLINK: u64 = 1 << 24;
pub(crate) const RIGHTS_PATH_REMOVE_DIRECTORY: u64 = 1 << 25;
pub(crate) const RIGHTS_PATH_UNLINK_FILE: u64 = 1 << 26;
pub(crate) const RIGHTS_POLL_FD_READWRITE: u64 = 1 << 27;

/// What a regular file opened for reading and writing may do.
pub(crate) const RIGHTS_FILE: u64 = RIGHTS_FD_DATASYNC
    | RIGHTS_FD_READ
    | RIGHTS_FD_SEEK
    | RIGHTS_FD_FDSTAT_SET_FLAGS
    | RIGHTS_FD_SYNC
    | RIGHTS_FD_TELL
    | RIGHTS_FD_WRITE
    | RIGHTS_FD_ADVISE
    | RIGHTS_FD_ALLOCATE
    | RIGHTS_FD_FILESTAT_GET
    | RIGHTS_FD_FILESTAT_SET_SIZE
    | RIGHTS_FD_FILESTAT_SET_TIMES
    | RIGHTS_POLL_FD_READWRITE;

/// What a directory may do.
pub(crate) const RIGHTS_DIR: u64 = RIGHTS_FD_FDSTAT_SET_FLAGS
    | RIGHTS_FD_SYNC
    | RIGHTS_FD_ADVISE
    | RIGHTS_PATH_CREATE_DIRECTORY
    | RIGHTS_PATH_CREATE_FILE
    | RIGHTS_PATH_LINK_SOURCE
    | RIGHTS_PATH_LINK_TARGET
    | RIGHTS_PATH_OPEN
    | RIGHTS_FD_READDIR
    | RIGHTS_PATH_READLINK
    | RIGHTS_PATH_RENAME_SOURCE
    | RIGHTS_PATH_RENAME_TARGET
    | RIGHTS_PATH_FILESTAT_GET
    | RIGHTS_PATH_FILESTAT_SET_SIZE
    | RIGHTS_PATH_FILESTAT_SET_TIMES
    | RIGHTS_FD_FILESTAT_GET
    | RIGHTS_FD_FILESTAT_SET_TIMES
    | RIGHTS_PATH_SYMLINK
    | RIGHTS_PATH_REMOVE_DIRECTORY
    | RIGHTS_PATH_UNLINK_FILE;

/// What stdin, stdout and stderr may do (no seeking: streams).
pub(crate) const RIGHTS_STDIO: u64 = RIGHTS_FD_READ
    | RIGHTS_FD_WRITE
    | RIGHTS_FD_FDSTAT_SET_FLAGS
    | RIGHTS_FD_FILESTAT_GET
    | RIGHTS_POLL_FD_READWRITE;

/// `fdstat`: 24 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Fdstat {
    pub(crate) filetype: u8,
    pub(crate) flags: u16,
    pub(crate) rights_base: u64,
    pub(crate) rights_inheriting: u64,
}

impl Fdstat {
    pub(crate) fn write(&self, mem: &mut GuestMemory<'_>, ptr: u32) -> WasiResult {
        let mut buf = [0u8; 24];
        buf[0] = self.filetype;
        buf[2..4].copy_from_slice(&self.flags.to_le_bytes());
        buf[8..16].copy_from_slice(&self.rights_base.to_le_bytes());
        buf[16..24].copy_from_slice(&self.rights_inheriting.to_le_bytes());
        mem.write(ptr, &buf)
    }
}

/// `filestat`: 64 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Filestat {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) filetype: u8,
    pub(crate) nlink: u64,
    pub(crate) size: u64,
    pub(crate) atim: u64,
    pub(crate) mtim: u64,
    pub(crate) ctim: u64,
}

impl Filestat {
    pub(crate) fn write(&self, mem: &mut GuestMemory<'_>, ptr: u32) -> WasiResult {
        let mut buf = [0u8; 64];
        buf[0..8].copy_from_slice(&self.dev.to_le_bytes());
        buf[8..16].copy_from_slice(&self.ino.to_le_bytes());
        buf[16] = self.filetype;
        buf[24..32].copy_from_slice(&self.nlink.to_le_bytes());
        buf[32..40].copy_from_slice(&self.size.to_le_bytes());
        buf[40..48].copy_from_slice(&self.atim.to_le_bytes());
        buf[48..56].copy_from_slice(&self.mtim.to_le_bytes());
        buf[56..64].copy_from_slice(&self.ctim.to_le_bytes());
        mem.write(ptr, &buf)
    }
}

/// Size of a `dirent` header; the name follows it.
pub(crate) const DIRENT_SIZE: usize = 24;

/// A `dirent` header followed by the name.
pub(crate) fn dirent(next: u64, ino: u64, filetype: u8, name: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; DIRENT_SIZE];
    buf[0..8].copy_from_slice(&next.to_le_bytes());
    buf[8..16].copy_from_slice(&ino.to_le_bytes());
    buf[16..20].copy_from_slice(&(name.len() as u32).to_le_bytes());
    buf[20] = filetype;
    buf.extend_from_slice(name);
    buf
}

/// Size of a `subscription` and of an `event`.
pub(crate) const SUBSCRIPTION_SIZE: u32 = 48;
pub(crate) const EVENT_SIZE: u32 = 32;

/// The filetype of a host `st_mode`.
pub(crate) fn filetype_of_mode(mode: libc::mode_t) -> u8 {
    match mode & libc::S_IFMT {
        libc::S_IFREG => FILETYPE_REGULAR_FILE,
        libc::S_IFDIR => FILETYPE_DIRECTORY,
        libc::S_IFLNK => FILETYPE_SYMBOLIC_LINK,
        libc::S_IFCHR => FILETYPE_CHARACTER_DEVICE,
        libc::S_IFBLK => FILETYPE_BLOCK_DEVICE,
        libc::S_IFSOCK => FILETYPE_SOCKET_STREAM,
        _ => FILETYPE_UNKNOWN,
    }
}

fn timestamp(secs: i64, nsecs: i64) -> u64 {
    (secs.max(0) as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(nsecs.max(0) as u64)
}

impl From<&libc::stat> for Filestat {
    fn from(st: &libc::stat) -> Filestat {
        Filestat {
            dev: st.st_dev,
            ino: st.st_ino,
            filetype: filetype_of_mode(st.st_mode),
            // u64 on x86-64, u32 on aarch64.
            #[allow(clippy::useless_conversion)]
            nlink: u64::from(st.st_nlink),
            size: st.st_size.max(0) as u64,
            atim: timestamp(st.st_atime, st.st_atime_nsec),
            mtim: timestamp(st.st_mtime, st.st_mtime_nsec),
            ctim: timestamp(st.st_ctime, st.st_ctime_nsec),
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let mut bytes = vec![0u8; 128];
        let mut mem = GuestMemory::new(&mut bytes);
        let stat = Filestat {
            dev: 1,
            ino: 2,
            filetype: FILETYPE_REGULAR_FILE,
            nlink: 3,
            size: 4,
            atim: 5,
            mtim: 6,
            ctim: 7,
        };
        stat.write(&mut mem, 64).unwrap();
        assert_eq!(mem.read_u64(64 + 8), Ok(2));
        assert_eq!(mem.read_u8(64 + 16), Ok(4));
        assert_eq!(mem.read_u64(64 + 56), Ok(7));
        assert!(stat.write(&mut mem, 65).is_err());
        let fdstat = Fdstat {
            filetype: FILETYPE_DIRECTORY,
            flags: FDFLAGS_APPEND,
            rights_base: RIGHTS_DIR,
            rights_inheriting: RIGHTS_FILE,
        };
        fdstat.write(&mut mem, 0).unwrap();
        assert_eq!(mem.read_u8(0), Ok(3));
        assert_eq!(mem.read_u16(2), Ok(1));
        assert_eq!(mem.read_u64(16), Ok(RIGHTS_FILE));
        let d = dirent(9, 8, FILETYPE_DIRECTORY, b"ab");
        assert_eq!(d.len(), 26);
        assert_eq!(d[16], 2);
        assert_eq!(d[20], 3);
    }
}
