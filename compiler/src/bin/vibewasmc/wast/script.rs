//! Running one `.wast` script: every directive in order, each reported as
//! passed, failed or skipped (with the reason) on its own protocol line as
//! soon as it is done (see `super::protocol`).
//!
//! Every module goes the production way: `vibewasm_compiler::compile` to an
//! artifact file in a temporary directory, `Artifact::open`, then
//! `Linker::instantiate`. All instances of a script share one store (the
//! linker's, which also holds the `spectest` module).

use std::collections::HashMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vibewasm_compiler::{compile, CompileError, Config, Language};
use vibewasm_loader::{Artifact, Error, Instance, Linker, Val};
use wast::lexer::Lexer;
use wast::parser::{self, ParseBuffer};
use wast::token::Id;
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastInvoke, Wat};

use super::protocol::{Outcome, Reporter};
use super::values::{define_spectest, match_results, to_val};

/// The bounds-check strategy modules are compiled with (`--bounds-checks`).
static BOUNDS_CHECKS: std::sync::OnceLock<vibewasm_compiler::BoundsChecks> =
    std::sync::OnceLock::new();

pub(super) fn set_bounds_checks(strategy: vibewasm_compiler::BoundsChecks) {
    let _ = BOUNDS_CHECKS.set(strategy);
}

fn config(language: Language) -> Config {
    Config {
        bounds_checks: BOUNDS_CHECKS.get().copied().unwrap_or_default(),
        language,
        ..Config::default()
    }
}

/// The language a script holds the compiler to: the scripts of the
/// WebAssembly 2.0 suite (a `wasm-2.0` directory on the path) expect 2.0's
/// rules, where later standards made some invalid modules valid (a second
/// memory); every other script gets everything vibewasm implements.
fn language_of(path: &Path) -> Language {
    if path.components().any(|c| c.as_os_str() == "wasm-2.0") {
        Language::Wasm2
    } else {
        Language::Latest
    }
}

/// A module slot: the index of its instance, or why it has none.
type Slot = Result<usize, String>;

/// Why a module could not be built.
enum BuildError {
    /// The text did not parse or encode.
    Text(String),
    Compile(CompileError),
    /// Writing or loading the artifact failed.
    Artifact(String),
    Instantiate(Error),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Text(e) => write!(f, "the text does not parse: {e}"),
            BuildError::Compile(e) => write!(f, "compile error: {e}"),
            BuildError::Artifact(e) => write!(f, "artifact error: {e}"),
            BuildError::Instantiate(e) => write!(f, "instantiation failed: {e}"),
        }
    }
}

/// A temporary directory for the script's artifacts, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    /// A directory this process just created, mode 0700: never one that
    /// already existed (another user could have made it, with symbolic
    /// links or artifacts of their own in it), so the artifacts written
    /// and mapped from it are the ones compiled here.
    fn new() -> std::io::Result<TempDir> {
        use std::os::unix::fs::DirBuilderExt;
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let mut attempt = 0;
        loop {
            let dir = std::env::temp_dir().join(format!(
                "vibewasmc-wast-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(TempDir(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Runner {
    dir: TempDir,
    artifacts: usize,
    linker: Linker,
    instances: Vec<Instance>,
    current: Option<Slot>,
    named: HashMap<String, Slot>,
    /// `module definition`s by name, and the last one.
    definitions: HashMap<String, Result<Arc<Artifact>, String>>,
    last_definition: Option<Result<Arc<Artifact>, String>>,
    language: Language,
}

/// Runs the script at `path`, reporting each directive through `out`.
pub(super) fn run_file(path: &Path, out: &mut Reporter<impl Write>) -> std::io::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return out.single(0, "file", Outcome::Fail(format!("cannot read: {e}"))),
    };
    // The spec's scripts use bidi and other look-alike characters in names
    // on purpose (names.wast).
    let mut lexer = Lexer::new(&text);
    lexer.allow_confusing_unicode(true);
    let buf = match ParseBuffer::new_with_lexer(lexer) {
        Ok(buf) => buf,
        Err(e) => return out.single(0, "file", Outcome::Fail(format!("cannot lex: {e}"))),
    };
    let script = match parser::parse::<Wast>(&buf) {
        Ok(script) => script,
        Err(mut e) => {
            let line = e.span().linecol_in(&text).0 + 1;
            e.set_text(&text);
            return out.single(line, "file", Outcome::Fail(format!("cannot parse: {e}")));
        }
    };
    out.total(script.directives.len())?;
    let mut runner = Runner::new(language_of(path)).map_err(std::io::Error::other)?;
    for directive in script.directives {
        let line = directive.span().linecol_in(&text).0 + 1;
        let kind = kind_name(&directive);
        let outcome = catch_unwind(AssertUnwindSafe(|| runner.run(directive, line)))
            .unwrap_or_else(|payload| {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Outcome::Fail(format!("the runner panicked: {message}"))
            });
        out.result(line, kind, &outcome)?;
    }
    out.end()
}

fn kind_name(directive: &WastDirective<'_>) -> &'static str {
    match directive {
        WastDirective::Module(_) => "module",
        WastDirective::ModuleDefinition(_) => "module definition",
        WastDirective::ModuleInstance { .. } => "module instance",
        WastDirective::AssertMalformed { .. } => "assert_malformed",
        WastDirective::AssertInvalid { .. } => "assert_invalid",
        WastDirective::AssertInvalidCustom { .. } => "assert_invalid_custom",
        WastDirective::AssertMalformedCustom { .. } => "assert_malformed_custom",
        WastDirective::Register { .. } => "register",
        WastDirective::Invoke(_) => "invoke",
        WastDirective::AssertTrap {
            exec: WastExecute::Wat(_),
            ..
        } => "assert_trap(module)",
        WastDirective::AssertTrap { .. } => "assert_trap",
        WastDirective::AssertReturn { .. } => "assert_return",
        WastDirective::AssertExhaustion { .. } => "assert_exhaustion",
        WastDirective::AssertUnlinkable { .. } => "assert_unlinkable",
        WastDirective::AssertException { .. } => "assert_exception",
        WastDirective::AssertSuspension { .. } => "assert_suspension",
        WastDirective::Thread(_) => "thread",
        WastDirective::Wait { .. } => "wait",
    }
}

fn is_component(wat: &QuoteWat<'_>) -> bool {
    matches!(
        wat,
        QuoteWat::Wat(Wat::Component(_)) | QuoteWat::QuoteComponent(..)
    )
}

const COMPONENTS: &str = "component-model modules are not applicable to a core wasm compiler";

/// Whether `actual` (an error's text) matches the spec's expected message:
/// by containment like wasmtime's runner, or, for our trap messages, when
/// the expected text extends ours ("uninitialized element 2").
fn message_matches(error: &Error, expected: &str) -> bool {
    let actual = error.to_string();
    actual.contains(expected)
        || error
            .as_trap()
            .is_some_and(|t| !t.message.is_empty() && expected.starts_with(&t.message))
}

impl Runner {
    fn new(language: Language) -> Result<Runner, String> {
        let mut linker = Linker::new();
        linker.allow_shadowing(true).max_wasm_stack(4 << 20);
        define_spectest(&mut linker).map_err(|e| format!("cannot define spectest: {e}"))?;
        Ok(Runner {
            dir: TempDir::new().map_err(|e| format!("cannot create a temporary directory: {e}"))?,
            artifacts: 0,
            linker,
            instances: Vec::new(),
            current: None,
            named: HashMap::new(),
            definitions: HashMap::new(),
            last_definition: None,
            language,
        })
    }

    fn run(&mut self, directive: WastDirective<'_>, line: usize) -> Outcome {
        use WastDirective as D;
        match directive {
            D::Module(wat) => self.module(wat, line),
            D::ModuleDefinition(wat) => self.definition(wat),
            D::ModuleInstance {
                instance, module, ..
            } => self.module_instance(instance, module, line),
            D::Register { name, module, .. } => match self.slot(module) {
                Ok(i) => match self.linker.define_instance(name, &self.instances[i]) {
                    Ok(_) => Outcome::Pass,
                    Err(e) => Outcome::Fail(format!("cannot register: {e}")),
                },
                Err(e) => Outcome::Fail(e),
            },
            D::Invoke(invoke) => match self.invoke(&invoke) {
                Ok(_) => Outcome::Pass,
                Err(e) => Outcome::Fail(e),
            },
            D::AssertReturn { exec, results, .. } => match self.execute(exec) {
                Ok(Ok(values)) => match match_results(&values, &results) {
                    Ok(()) => Outcome::Pass,
                    Err(e) => Outcome::Fail(e),
                },
                Ok(Err(e)) => Outcome::Fail(format!("expected a result, got: {e}")),
                Err(e) => Outcome::Fail(e),
            },
            D::AssertTrap { exec, message, .. } => self.assert_trap(exec, message),
            D::AssertExhaustion { call, message, .. } => match self.invoke_raw(&call) {
                Ok(Err(e)) if message_matches(&e, message) => Outcome::Pass,
                Ok(Err(e)) => Outcome::Fail(format!("expected \"{message}\", got: {e}")),
                Ok(Ok(v)) => Outcome::Fail(format!("expected \"{message}\", returned {v:?}")),
                Err(e) => Outcome::Fail(e),
            },
            D::AssertInvalid { module, .. } => self.assert_rejected(module, false),
            D::AssertMalformed { module, .. } => self.assert_rejected(module, true),
            D::AssertUnlinkable {
                module, message, ..
            } => self.assert_unlinkable(QuoteWat::Wat(module), message),
            D::AssertInvalidCustom { .. } | D::AssertMalformedCustom { .. } => {
                Outcome::Skip("custom-section annotations are not checked by this runner".into())
            }
            D::AssertException { .. } => {
                Outcome::Fail("exception handling is not supported".into())
            }
            D::AssertSuspension { .. } => Outcome::Fail("stack switching is not supported".into()),
            D::Thread(_) | D::Wait { .. } => {
                Outcome::Skip("threads in scripts are not supported by this runner".into())
            }
        }
    }

    /// Compiles `wasm` to an artifact file and opens it.
    fn compile(&mut self, wasm: &[u8]) -> Result<Arc<Artifact>, BuildError> {
        let bytes = compile(wasm, &config(self.language)).map_err(BuildError::Compile)?;
        self.artifacts += 1;
        let path = self.dir.0.join(format!("m{}.vwa", self.artifacts));
        std::fs::write(&path, bytes)
            .map_err(|e| BuildError::Artifact(format!("cannot write {}: {e}", path.display())))?;
        let artifact = Artifact::open(&path).map_err(|e| BuildError::Artifact(e.to_string()))?;
        Ok(Arc::new(artifact))
    }

    fn encode_and_compile(&mut self, wat: &mut QuoteWat<'_>) -> Result<Arc<Artifact>, BuildError> {
        let wasm = wat.encode().map_err(|e| BuildError::Text(e.to_string()))?;
        self.compile(&wasm)
    }

    fn build(&mut self, wat: &mut QuoteWat<'_>) -> Result<usize, BuildError> {
        let artifact = self.encode_and_compile(wat)?;
        self.instantiate(&artifact)
    }

    fn instantiate(&mut self, artifact: &Arc<Artifact>) -> Result<usize, BuildError> {
        let instance = self
            .linker
            .instantiate_artifact(artifact)
            .map_err(BuildError::Instantiate)?;
        self.instances.push(instance);
        Ok(self.instances.len() - 1)
    }

    fn set_current(&mut self, name: Option<&str>, slot: Slot) {
        if let Some(name) = name {
            self.named.insert(name.to_string(), slot.clone());
        }
        self.current = Some(slot);
    }

    fn module(&mut self, mut wat: QuoteWat<'_>, line: usize) -> Outcome {
        if is_component(&wat) {
            return Outcome::Skip(COMPONENTS.into());
        }
        let name = wat.name().map(|id| id.name().to_string());
        let result = self.build(&mut wat);
        let outcome = match &result {
            Ok(_) => Outcome::Pass,
            Err(e) => Outcome::Fail(e.to_string()),
        };
        let slot = result.map_err(|e| format!("the module at line {line} failed: {e}"));
        self.set_current(name.as_deref(), slot);
        outcome
    }

    fn definition(&mut self, mut wat: QuoteWat<'_>) -> Outcome {
        if is_component(&wat) {
            return Outcome::Skip(COMPONENTS.into());
        }
        let name = wat.name().map(|id| id.name().to_string());
        let result = self.encode_and_compile(&mut wat).map_err(|e| e.to_string());
        let outcome = match &result {
            Ok(_) => Outcome::Pass,
            Err(e) => Outcome::Fail(e.clone()),
        };
        if let Some(name) = name {
            self.definitions.insert(name, result.clone());
        }
        self.last_definition = Some(result);
        outcome
    }

    fn module_instance(
        &mut self,
        instance: Option<Id<'_>>,
        module: Option<Id<'_>>,
        line: usize,
    ) -> Outcome {
        let definition = match module {
            Some(id) => self.definitions.get(id.name()).cloned(),
            None => self.last_definition.clone(),
        };
        let result = match definition {
            None => Err("no such module definition".to_string()),
            Some(Err(e)) => Err(format!("the module definition failed: {e}")),
            Some(Ok(artifact)) => self.instantiate(&artifact).map_err(|e| e.to_string()),
        };
        let outcome = match &result {
            Ok(_) => Outcome::Pass,
            Err(e) => Outcome::Fail(e.clone()),
        };
        let slot = result.map_err(|e| format!("the module instance at line {line} failed: {e}"));
        self.set_current(instance.map(|id| id.name()), slot);
        outcome
    }

    /// The instance `id` names, or the current one.
    fn slot(&self, id: Option<Id<'_>>) -> Slot {
        let slot = match id {
            Some(id) => self.named.get(id.name()),
            None => self.current.as_ref(),
        };
        slot.cloned()
            .unwrap_or_else(|| Err("no such module".to_string()))
    }

    /// Runs an invocation: `Err` when it could not even be attempted
    /// (module missing or failed, unsupported argument), `Ok(Err)` when the
    /// call failed (a trap, say).
    fn invoke_raw(&mut self, invoke: &WastInvoke<'_>) -> Result<Result<Vec<Val>, Error>, String> {
        let index = self.slot(invoke.module)?;
        let args = invoke
            .args
            .iter()
            .map(|a| match a {
                WastArg::Core(core) => to_val(core),
                #[allow(unreachable_patterns)]
                _ => Err("component-model values are not applicable".to_string()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.instances[index].call(invoke.name, &args))
    }

    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Vec<Val>, String> {
        self.invoke_raw(invoke)?.map_err(|e| e.to_string())
    }

    fn execute(&mut self, exec: WastExecute<'_>) -> Result<Result<Vec<Val>, Error>, String> {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke_raw(&invoke),
            WastExecute::Get { module, global, .. } => {
                let index = self.slot(module)?;
                match self.instances[index].global(global) {
                    Some(v) => Ok(Ok(vec![v])),
                    None => Err(format!("no exported global \"{global}\"")),
                }
            }
            WastExecute::Wat(_) => Err("a module is not an action".to_string()),
        }
    }

    fn assert_trap(&mut self, exec: WastExecute<'_>, message: &str) -> Outcome {
        if let WastExecute::Wat(wat) = exec {
            let mut wat = QuoteWat::Wat(wat);
            if is_component(&wat) {
                return Outcome::Skip(COMPONENTS.into());
            }
            return match self.build(&mut wat) {
                Err(BuildError::Instantiate(e)) if message_matches(&e, message) => Outcome::Pass,
                Err(BuildError::Instantiate(e)) => {
                    Outcome::Fail(format!("expected \"{message}\", got: {e}"))
                }
                Err(e) => Outcome::Fail(e.to_string()),
                Ok(_) => Outcome::Fail(format!("expected \"{message}\", instantiated")),
            };
        }
        match self.execute(exec) {
            Ok(Err(e)) if message_matches(&e, message) => Outcome::Pass,
            Ok(Err(e)) => Outcome::Fail(format!("expected \"{message}\", got: {e}")),
            Ok(Ok(values)) => Outcome::Fail(format!("expected \"{message}\", returned {values:?}")),
            Err(e) => Outcome::Fail(e),
        }
    }

    /// `assert_invalid` and `assert_malformed`: the module must not compile,
    /// and be refused as invalid or malformed (not as unsupported).
    fn assert_rejected(&mut self, mut module: QuoteWat<'_>, malformed: bool) -> Outcome {
        if is_component(&module) {
            return Outcome::Skip(COMPONENTS.into());
        }
        let wasm =
            match module.encode() {
                Ok(wasm) => wasm,
                // Text the parser refuses is malformed by definition.
                Err(_) if malformed => return Outcome::Pass,
                Err(_) => return Outcome::Skip(
                    "the text parser refuses this invalid module, so the compiler never sees it"
                        .into(),
                ),
            };
        match compile(&wasm, &config(self.language)) {
            Err(CompileError::Invalid { .. } | CompileError::Malformed { .. }) => Outcome::Pass,
            Err(e @ CompileError::Limit { .. }) => {
                Outcome::Fail(format!("refused for a limit, not as invalid: {e}"))
            }
            Err(e) => Outcome::Fail(format!("refused for the wrong reason: {e}")),
            Ok(_) => Outcome::Fail("the module compiled".into()),
        }
    }

    fn assert_unlinkable(&mut self, mut module: QuoteWat<'_>, message: &str) -> Outcome {
        if is_component(&module) {
            return Outcome::Skip(COMPONENTS.into());
        }
        match self.build(&mut module) {
            Err(BuildError::Instantiate(e)) if message_matches(&e, message) => Outcome::Pass,
            Err(BuildError::Instantiate(e)) => {
                Outcome::Fail(format!("expected \"{message}\", got: {e}"))
            }
            Err(e) => Outcome::Fail(e.to_string()),
            Ok(_) => Outcome::Fail(format!("expected \"{message}\", instantiated")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::protocol::{parse_line, Event};
    use super::*;

    /// Runs `script` and returns `(line, outcome)` per directive.
    fn run(script: &str) -> Vec<(usize, Outcome)> {
        let dir = TempDir::new().unwrap();
        let path = dir.0.join("t.wast");
        std::fs::write(&path, script).unwrap();
        let mut out = Vec::new();
        run_file(&path, &mut Reporter::new(&mut out)).unwrap();
        let text = String::from_utf8(out).unwrap();
        let events: Vec<Event> = text.lines().filter_map(parse_line).collect();
        assert_eq!(events.last(), Some(&Event::End), "{text}");
        events
            .into_iter()
            .filter_map(|e| match e {
                Event::Result { line, outcome, .. } => Some((line, outcome)),
                _ => None,
            })
            .collect()
    }

    fn failed_lines(results: &[(usize, Outcome)]) -> Vec<usize> {
        results
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Fail(_)))
            .map(|(l, _)| *l)
            .collect()
    }

    #[test]
    fn assertions_pass_and_fail_as_they_should() {
        let results = run(r#"(module $m
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "nan") (result f32) (f32.div (f32.const 0) (f32.const 0)))
  (func (export "id") (param externref) (result externref) (local.get 0))
  (func $r (export "r") (call $r))
  (global (export "g") i32 (i32.const 42)))
(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3))
(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 4))
(assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer divide by zero")
(assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer overflow")
(assert_return (invoke "nan") (f32.const nan:canonical))
(assert_return (invoke "id" (ref.extern 7)) (ref.extern 7))
(assert_return (invoke "id" (ref.extern 7)) (ref.extern 8))
(assert_return (get $m "g") (i32.const 42))
(assert_exhaustion (invoke "r") "call stack exhausted")
(assert_invalid (module (func (result i32) (i64.const 1))) "type mismatch")
(assert_invalid (module (func (result i32) (i32.const 1))) "type mismatch")
(assert_malformed (module quote "(func (i32.bogus))") "unknown operator")
(assert_malformed (module binary "\00asm\02\00\00\00") "unknown binary version")
(assert_unlinkable (module (import "nope" "f" (func))) "unknown import")
(register "M" $m)
(module (import "M" "add" (func $f (param i32 i32) (result i32)))
  (import "spectest" "print_i32" (func (param i32)))
  (func (export "g") (result i32) (call $f (i32.const 3) (i32.const 4))))
(assert_return (invoke "g") (i32.const 7))
(assert_trap (module (func $s unreachable) (start $s)) "unreachable")
(module (func (export "v") (result i32) (i64.const 0)))
(assert_return (invoke "v") (i32.const 0))
"#);
        assert_eq!(results.len(), 21);
        assert_eq!(failed_lines(&results), [9, 11, 14, 18, 28, 29]);
        // A module that does not compile fails every use of it.
        let Outcome::Fail(message) = &results[20].1 else {
            panic!("{results:?}")
        };
        assert!(
            message.contains("the module at line 28 failed"),
            "{message}"
        );
        assert!(message.contains("type mismatch"), "{message}");
    }

    #[test]
    fn unreadable_scripts_are_one_failure() {
        let results = run("(module (func)) (assert_return (invoke");
        assert_eq!(results.len(), 1);
        assert!(matches!(&results[0].1, Outcome::Fail(m) if m.contains("cannot parse")));
    }
}
