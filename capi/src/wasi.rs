//! WASI preview1 for commands: arguments, environment, stdio, pre-opened
//! directories, and running `_start`. Without the crate's `wasi` feature
//! these functions exist but fail with "built without WASI".

use std::ffi::c_char;

use crate::func::{vw_instance, vw_linker};
use crate::{drop_box, ffi, ffi_err, get_mut, get_str, vw_error, vw_status, vw_trap};

#[cfg(feature = "wasi")]
use vibewasm_loader::wasi;

/// What a WASI program sees of the world: arguments, environment variables,
/// stdio (nothing inherited unless asked), pre-opened directories. Release
/// it with `vw_wasi_config_delete`.
pub struct vw_wasi_config {
    #[cfg(feature = "wasi")]
    builder: wasi::WasiCtxBuilder,
}

#[cfg(feature = "wasi")]
fn builder(config: &mut vw_wasi_config) -> crate::Res<&mut wasi::WasiCtxBuilder> {
    Ok(&mut config.builder)
}

#[cfg(not(feature = "wasi"))]
fn builder(_: &mut vw_wasi_config) -> crate::Res<&mut vw_wasi_config> {
    crate::fail("libvibewasm was built without WASI (the `wasi` feature)")
}

/// An empty WASI configuration (no arguments, no environment, stdio
/// discarded, no directories). Never fails.
#[no_mangle]
pub extern "C" fn vw_wasi_config_new() -> *mut vw_wasi_config {
    Box::into_raw(Box::new(vw_wasi_config {
        #[cfg(feature = "wasi")]
        builder: wasi::WasiCtxBuilder::new(),
    }))
}

/// Releases a configuration (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn vw_wasi_config_delete(config: *mut vw_wasi_config) {
    // SAFETY: NULL or made by this library, not yet released.
    unsafe { drop_box(config) }
}

/// Appends a program argument (the first one is the program's name).
#[no_mangle]
pub unsafe extern "C" fn vw_wasi_config_arg(
    config: *mut vw_wasi_config,
    arg: *const c_char,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live configuration / a C string (crate contract).
        let (config, arg) = unsafe { (get_mut(config, "config")?, get_str(arg, "arg")?) };
        #[cfg(feature = "wasi")]
        builder(config)?.arg(arg);
        #[cfg(not(feature = "wasi"))]
        let _ = (builder(config)?, arg);
        Ok(())
    })
}

/// Adds the environment variable `key=value`.
#[no_mangle]
pub unsafe extern "C" fn vw_wasi_config_env(
    config: *mut vw_wasi_config,
    key: *const c_char,
    value: *const c_char,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live configuration / C strings (crate contract).
        let (config, key, value) = unsafe {
            (
                get_mut(config, "config")?,
                get_str(key, "key")?,
                get_str(value, "value")?,
            )
        };
        #[cfg(feature = "wasi")]
        builder(config)?.env(key, value);
        #[cfg(not(feature = "wasi"))]
        let _ = (builder(config)?, key, value);
        Ok(())
    })
}

/// The program reads this process's stdin and writes to its stdout and
/// stderr (file descriptors 0, 1, 2).
#[no_mangle]
pub unsafe extern "C" fn vw_wasi_config_inherit_stdio(
    config: *mut vw_wasi_config,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live configuration (crate contract).
        let config = unsafe { get_mut(config, "config") }?;
        #[cfg(feature = "wasi")]
        builder(config)?.inherit_stdio();
        #[cfg(not(feature = "wasi"))]
        builder(config)?;
        Ok(())
    })
}

/// Gives the program the host directory `host_path` (and what is below it,
/// sandboxed: no `..` out of it, no symbolic links) as `guest_path`, such
/// as "." or "/data". Fails if `host_path` is not a directory.
#[no_mangle]
pub unsafe extern "C" fn vw_wasi_config_preopen_dir(
    config: *mut vw_wasi_config,
    host_path: *const c_char,
    guest_path: *const c_char,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live configuration / C strings (crate contract).
        let (config, host, guest) = unsafe {
            (
                get_mut(config, "config")?,
                get_str(host_path, "host_path")?,
                get_str(guest_path, "guest_path")?,
            )
        };
        #[cfg(feature = "wasi")]
        builder(config)?.preopened_dir(host, guest)?;
        #[cfg(not(feature = "wasi"))]
        let _ = (builder(config)?, host, guest);
        Ok(())
    })
}

/// Defines the `wasi_snapshot_preview1` functions in `linker` for a program
/// seeing `config`. The configuration is used up: it is left empty (as from
/// `vw_wasi_config_new`), and must still be deleted.
#[no_mangle]
pub unsafe extern "C" fn vw_linker_define_wasi(
    linker: *mut vw_linker,
    config: *mut vw_wasi_config,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or live objects (crate contract).
        let (linker, config) = unsafe { (get_mut(linker, "linker")?, get_mut(config, "config")?) };
        #[cfg(feature = "wasi")]
        {
            let ctx = builder(config)?.build();
            wasi::add_to_linker(&mut linker.linker, &ctx)?;
        }
        #[cfg(not(feature = "wasi"))]
        let _ = (builder(config)?, linker);
        Ok(())
    })
}

/// Runs the WASI command `instance`: calls its `_start` export. `*exit_code`
/// receives 0 if `_start` returned, or the status the program passed to
/// `proc_exit`; both are `VW_OK`. A trap is `VW_TRAP`.
#[no_mangle]
pub unsafe extern "C" fn vw_wasi_run_start(
    instance: *mut vw_instance,
    exit_code: *mut i32,
    trap: *mut *mut vw_trap,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi(error, trap, || {
        // SAFETY: NULL or a live instance (crate contract).
        let instance = unsafe { get_mut(instance, "instance") }?;
        if exit_code.is_null() {
            return crate::fail("exit_code is NULL");
        }
        #[cfg(feature = "wasi")]
        {
            let code = wasi::run_start(&mut instance.instance)?;
            // SAFETY: a writable out-pointer (checked non-NULL above).
            unsafe { *exit_code = code };
        }
        #[cfg(not(feature = "wasi"))]
        let _ = (
            instance,
            crate::fail::<()>("libvibewasm was built without WASI (the `wasi` feature)")?,
        );
        Ok(())
    })
}
