//! The sandbox options of `compile` (bounds-check strategy, fuel metering,
//! epoch checks, stripping names) and the limits of `run` (`--fuel`,
//! `--timeout`, `--max-stack`).

use std::time::Duration;

use vibewasm_compiler::{BoundsChecks, Config};
use vibewasm_format::{cpu, read_artifact, write_artifact, Arch, ArtifactParts, Target};
use vibewasm_loader::{Artifact, Linker, Store};

use super::Failure;

/// `--bounds-checks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BoundsArg {
    /// No compare per access: the memory reserves 8 GiB + 64 KiB of address
    /// space and a signal handler turns faults into traps.
    Guard,
    /// Compare every access with the memory size (no signal handler).
    Explicit,
}

impl BoundsArg {
    pub fn strategy(self) -> BoundsChecks {
        match self {
            BoundsArg::Guard => BoundsChecks::GuardPages,
            BoundsArg::Explicit => BoundsChecks::Explicit,
        }
    }
}

/// The default strategy ([`BoundsChecks::default`]: guard pages on 64-bit hosts).
pub fn default_bounds() -> BoundsArg {
    match BoundsChecks::default() {
        BoundsChecks::GuardPages => BoundsArg::Guard,
        BoundsChecks::Explicit => BoundsArg::Explicit,
    }
}

/// Code options of `compile`.
#[derive(clap::Args, Debug)]
pub struct CodeArgs {
    /// How memory accesses are kept in bounds.
    #[arg(long, value_enum, value_name = "STRATEGY", default_value_t = default_bounds())]
    bounds_checks: BoundsArg,
    /// Compile fuel metering in (one unit per executed operator; see `run --fuel`).
    #[arg(long)]
    fuel: bool,
    /// Compile epoch checks in at function entries and loop heads (see `run --timeout`).
    #[arg(long)]
    epoch: bool,
    /// Threads that compile functions in parallel (default: one per core);
    /// the artifact is the same whatever the number.
    #[arg(
        long,
        short = 'j',
        value_name = "N",
        default_value_t = 0,
        hide_default_value = true
    )]
    threads: usize,
    /// Put the code at a multiple of 4 KiB in the file, so that a host can
    /// run it in place from a 4 KiB-aligned buffer (execute in place from
    /// flash: aarch64 code needs it; see the README's `no_std` section).
    #[arg(long)]
    xip: bool,
}

impl CodeArgs {
    pub fn config(&self) -> Config {
        Config {
            bounds_checks: self.bounds_checks.strategy(),
            fuel: self.fuel,
            epoch: self.epoch,
            threads: self.threads,
            target: None,
            language: Default::default(),
            page_aligned_code: self.xip,
        }
    }
}

/// The machine `compile` generates code for.
#[derive(clap::Args, Debug)]
pub struct TargetArgs {
    /// The target: `x86_64-linux` or `aarch64-linux`, with the CPU features
    /// every such machine has (x86-64: SSE4.1 and POPCNT). Default: this
    /// machine, with the features its CPU has. Any build of vibewasmc
    /// compiles for either, byte for byte as a build on that target does.
    #[arg(long, value_name = "TARGET")]
    target: Option<String>,
    /// CPU features to allow (`lzcnt,bmi1`) or forbid (`-popcnt`) on top
    /// of the target's (x86-64: lzcnt, bmi1, popcnt, sse4.1, sse4.2).
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    cpu_features: Option<String>,
}

impl TargetArgs {
    /// Sets `config`'s target as the options say.
    pub fn apply(&self, config: &mut Config) -> Result<(), Failure> {
        let mut target = match &self.target {
            Some(name) => Some(Target::by_name(name).ok_or_else(|| {
                format!("unknown target `{name}` (known: x86_64-linux, aarch64-linux)")
            })?),
            None => None,
        };
        if let Some(list) = &self.cpu_features {
            let mut t = match target {
                Some(t) => t,
                None => config.resolved_target().map_err(|e| e.to_string())?,
            };
            for item in list.split(',').filter(|i| !i.is_empty()) {
                let (remove, name) = match item.strip_prefix('-') {
                    Some(name) => (true, name),
                    None => (false, item.strip_prefix('+').unwrap_or(item)),
                };
                let bit = cpu::by_name(name)
                    .filter(|_| t.arch == Arch::X86_64)
                    .ok_or_else(|| format!("no CPU feature `{name}` for {}", t.name()))?;
                if remove {
                    t.cpu_features &= !bit;
                } else {
                    t.cpu_features |= bit;
                }
            }
            target = Some(t);
        }
        config.target = target;
        Ok(())
    }
}

/// Limits of `run`.
#[derive(clap::Args, Debug)]
pub struct RunLimits {
    /// Fuel the call may consume (one unit per executed wasm operator); the
    /// code must be compiled with `--fuel` (a .wasm/.wat input is).
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Interrupt the call after this long (e.g. `200ms`, `2s`, `1.5s`, `1m`),
    /// via epochs from a watchdog thread; the code must be compiled with
    /// `--epoch` (a .wasm/.wat input is).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Stack wasm may use, in bytes (default 1 MiB; the thread's stack caps it).
    #[arg(long, value_name = "BYTES")]
    max_stack: Option<usize>,
}

impl RunLimits {
    /// How a .wasm/.wat input is compiled for these limits.
    pub fn config(&self) -> Config {
        Config {
            fuel: self.fuel.is_some(),
            epoch: self.timeout.is_some(),
            ..Config::default()
        }
    }

    /// Refuses limits the artifact's code cannot honour.
    pub fn check(&self, artifact: &Artifact) -> Result<(), Failure> {
        let options = artifact.header().options;
        if self.fuel.is_some() && !options.fuel {
            return Err("--fuel needs code compiled with fuel metering \
                        (`vibewasmc compile --fuel`)"
                .into());
        }
        if self.timeout.is_some() && !options.epoch {
            return Err("--timeout needs code compiled with epoch checks \
                        (`vibewasmc compile --epoch`)"
                .into());
        }
        Ok(())
    }

    /// A linker bound to a store with these limits. Fuel-metered code gets
    /// no limit (all the fuel there is) without `--fuel`; with `--timeout`
    /// a watchdog thread advances the store's epoch once the time is up.
    pub fn linker(&self) -> Result<Linker, Failure> {
        let store = Store::default();
        store.set_fuel(self.fuel.unwrap_or(u64::MAX))?;
        if let Some(timeout) = self.timeout {
            store.set_epoch_deadline(1)?;
            let counter = store.epoch_counter();
            std::thread::Builder::new()
                .name("vibewasmc-watchdog".into())
                .spawn(move || {
                    std::thread::sleep(timeout);
                    counter.increment();
                })
                .map_err(|e| format!("cannot start the --timeout watchdog: {e}"))?;
        }
        let mut linker = Linker::with_store(store);
        if let Some(bytes) = self.max_stack {
            linker.max_wasm_stack(bytes);
        }
        Ok(linker)
    }
}

/// `200ms`, `2s`, `1.5s`, `1m`, `500us`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (e.g. 200ms, 2s, 1m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "ns" => value / 1e9,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit '{other}' (ns, us, ms, s, m, h)"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("'{text}': {e}"))
}

/// The artifact without the function names of the name section: decoded,
/// names cleared, encoded again with the same header fields (the code does
/// not depend on the names). `wasm` is the source it was compiled from.
pub fn strip_names(artifact: &[u8], wasm: &[u8]) -> Result<Vec<u8>, Failure> {
    let view = read_artifact(artifact).map_err(|e| format!("cannot strip the artifact: {e}"))?;
    let mut tables = view.tables.to_owned();
    tables.func_names.clear();
    Ok(write_artifact(&ArtifactParts {
        compiler_version: &view.header.compiler_version,
        target: view.header.target,
        options: view.header.options,
        wasm,
        metadata: &view.metadata,
        tables: &tables,
        memory_image: view.memory_image,
        code: view.code,
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("2 weeks").is_err());
        assert!(parse_duration("").is_err());
    }
}
