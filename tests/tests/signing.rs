//! Signed artifacts end to end: the loader API (`Artifact::open_trusted`,
//! `from_bytes_trusted`) and the command line (`keygen`, `compile --sign`,
//! `run --trusted-key`). A tampered signed artifact (checksum re-fixed, so
//! the signature is what catches it), an unsigned one under a trust
//! policy, and one signed by an untrusted key are each refused with a
//! message naming the reason; a good one runs; signing is reproducible.

use std::process::Output;

use vibewasm_format::{
    read_artifact, sign_artifact, strip_signature, verify_signature, FormatError, SecretKey,
    CHECKSUM_RANGE, SIGNATURE_BLOCK_LEN,
};
use vibewasm_loader::{LoadError, TrustedKeys};
use vibewasm_tests::*;

const MODULE: &str = r#"
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "signed")
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "first") (result i32) (i32.load8_u (i32.const 0))))
"#;

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn trusting(keys: &[&SecretKey]) -> TrustedKeys {
    keys.iter().map(|k| k.public_key()).collect()
}

fn format_error(result: Result<Artifact, LoadError>) -> FormatError {
    match result {
        Err(LoadError::Format { source, .. }) => source,
        Err(other) => panic!("expected a format error, got {other}"),
        Ok(_) => panic!("artifact accepted"),
    }
}

/// Loads `bytes` from memory and from a file under `trusted`; both must
/// refuse with the same error, whose message contains `words`.
fn refused(bytes: &[u8], trusted: &TrustedKeys, words: &[&str]) -> FormatError {
    let from_bytes = format_error(Artifact::from_bytes_trusted(bytes, trusted));
    let dir = TempDir::new();
    let path = dir.join("app.vwa");
    std::fs::write(&path, bytes).unwrap();
    let from_file = Artifact::open_trusted(&path, trusted);
    let message = from_file.as_ref().err().map(|e| e.to_string());
    assert_eq!(format_error(from_file), from_bytes);
    let message = message.unwrap();
    assert!(message.contains("app.vwa"), "{message}");
    for word in words {
        assert!(message.contains(word), "'{word}' not in: {message}");
    }
    from_bytes
}

fn run(artifact: Artifact) -> (i32, i32) {
    let artifact = std::sync::Arc::new(artifact);
    let mut instance = Linker::new().instantiate_artifact(&artifact).unwrap();
    (
        call_i32(&mut instance, "fib", &[Val::I32(20)]),
        call_i32(&mut instance, "first", &[]),
    )
}

#[test]
fn a_good_signature_loads_and_runs() {
    let unsigned = compile_wat(MODULE);
    let signed = sign_artifact(&unsigned, &key(1)).unwrap();
    let trusted = trusting(&[&key(2), &key(1)]);
    assert_eq!(
        run(Artifact::from_bytes_trusted(&signed, &trusted).unwrap()),
        (6765, b's' as i32)
    );
    let dir = TempDir::new();
    let path = dir.join("app.vwa");
    std::fs::write(&path, &signed).unwrap();
    assert_eq!(
        run(Artifact::open_trusted(&path, &trusted).unwrap()),
        (6765, b's' as i32)
    );
    // Without a policy a signed artifact is an ordinary one.
    assert_eq!(run(Artifact::open(&path).unwrap()), (6765, b's' as i32));
}

#[test]
fn signing_is_reproducible() {
    let unsigned = compile_wat(MODULE);
    let a = sign_artifact(&unsigned, &key(1)).unwrap();
    let b = sign_artifact(&compile_wat(MODULE), &key(1)).unwrap();
    assert_eq!(a, b, "same module, same key: same bytes");
    assert_eq!(a.len() as u64, unsigned.len() as u64 + SIGNATURE_BLOCK_LEN);
    assert_eq!(&a[unsigned.len()..unsigned.len() + 8], b"VWASIG\0\x01");
    assert_eq!(strip_signature(&a).unwrap(), unsigned);
    // Another key changes only the header's checksum and the block.
    let c = sign_artifact(&unsigned, &key(2)).unwrap();
    let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != c[i]).collect();
    assert!(differing
        .iter()
        .all(|&i| CHECKSUM_RANGE.contains(&i) || i >= unsigned.len() + 8));
}

#[test]
fn a_tampered_signed_artifact_is_refused() {
    let unsigned = compile_wat(MODULE);
    let signed = sign_artifact(&unsigned, &key(1)).unwrap();
    let trusted = trusting(&[&key(1)]);
    let header = read_artifact(&signed).unwrap().header;
    // Change the data segment ("signed" -> "Signed") and the code, each with
    // the checksum re-fixed: structurally valid, so only the signature can
    // tell.
    let data_at = signed.windows(6).position(|w| w == b"signed").unwrap();
    let code_at = header.code_offset as usize + 16;
    for at in [data_at, code_at, 20] {
        let mut bad = signed.clone();
        bad[at] ^= 0x20;
        refix_checksum(&mut bad);
        read_artifact(&bad).expect("structurally valid after the edit");
        let err = refused(&bad, &trusted, &["does not verify", "SHA256:"]);
        assert!(matches!(err, FormatError::BadSignature { .. }), "{err}");
    }
    // A flipped byte without a re-fixed checksum fails the checksum first.
    let mut bad = signed.clone();
    bad[data_at] ^= 0x20;
    let err = refused(&bad, &trusted, &["checksum"]);
    assert!(matches!(err, FormatError::ChecksumMismatch { .. }), "{err}");
    // So does a damaged signature.
    let mut bad = signed.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    refused(&bad, &trusted, &["checksum"]);
    refix_checksum(&mut bad);
    refused(&bad, &trusted, &["does not verify"]);
    // A signature block swapped in from another signer, checksum re-fixed.
    let other = sign_artifact(&unsigned, &key(2)).unwrap();
    let mut bad = signed.clone();
    let block = unsigned.len() + 40;
    bad[block..].copy_from_slice(&other[block..]);
    refix_checksum(&mut bad);
    refused(&bad, &trusted, &["does not verify"]);
}

#[test]
fn unsigned_artifacts_are_refused_under_a_trust_policy() {
    let unsigned = compile_wat(MODULE);
    let err = refused(&unsigned, &trusting(&[&key(1)]), &["not signed"]);
    assert_eq!(err, FormatError::Unsigned { trusted: 1 });
    // An empty policy trusts nothing.
    let signed = sign_artifact(&unsigned, &key(1)).unwrap();
    refused(&signed, &TrustedKeys::new(), &["not one of the 0 trusted"]);
}

#[test]
fn an_untrusted_signer_is_refused_with_its_fingerprint() {
    let signed = sign_artifact(&compile_wat(MODULE), &key(3)).unwrap();
    let fingerprint = key(3).public_key().fingerprint();
    let err = refused(
        &signed,
        &trusting(&[&key(1), &key(2)]),
        &[&fingerprint, "not one of the 2 trusted"],
    );
    assert!(matches!(err, FormatError::UntrustedKey { .. }));
    assert!(verify_signature(&signed, &[key(3).public_key()]).is_ok());
}

#[test]
fn a_moved_signature_block_is_refused_by_read_artifact() {
    let unsigned = compile_wat(MODULE);
    let mut bad = sign_artifact(&unsigned, &key(1)).unwrap();
    // Point the signature offset into the code: the block must end the file.
    bad[168..176].copy_from_slice(&4096u64.to_le_bytes());
    refix_checksum(&mut bad);
    let err = format_error(Artifact::from_bytes(&bad));
    assert!(matches!(err, FormatError::BadSignatureBlock(_)), "{err}");
    // An unsigned artifact with trailing bytes claimed as a block.
    let mut bad = unsigned.clone();
    bad.extend_from_slice(&[0u8; SIGNATURE_BLOCK_LEN as usize]);
    let len = bad.len() as u64;
    bad[128..136].copy_from_slice(&len.to_le_bytes());
    bad[168..176].copy_from_slice(&(unsigned.len() as u64).to_le_bytes());
    refix_checksum(&mut bad);
    let err = format_error(Artifact::from_bytes(&bad));
    assert!(err.to_string().contains("magic"), "{err}");
}

// ---------------------------------------------------------------------------
// The command line.

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "vibewasmc failed: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused_cli(out: Output, words: &[&str]) {
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let message = stderr(&out);
    for word in words {
        assert!(message.contains(word), "'{word}' not in: {message}");
    }
}

#[test]
fn cli_keygen_sign_and_run_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let p = |name: &str| dir.join(name);
    let wat = p("app.wat");
    std::fs::write(&wat, MODULE).unwrap();
    ok(run_cli([
        "keygen".as_ref(),
        "-o".as_ref(),
        p("release").as_os_str(),
    ]));
    ok(run_cli([
        "keygen".as_ref(),
        "-o".as_ref(),
        p("other").as_os_str(),
    ]));
    let mode = std::fs::metadata(p("release"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "secret key mode {mode:o}");
    assert!(std::fs::read_to_string(p("release.pub"))
        .unwrap()
        .starts_with("vibewasm-ed25519-public-key "));
    // keygen never overwrites.
    refused_cli(
        run_cli(["keygen".as_ref(), "-o".as_ref(), p("release").as_os_str()]),
        &["already exists"],
    );

    let compile = |key: Option<&str>, out: &str| {
        let mut args = vec!["compile".into(), wat.clone().into_os_string()];
        if let Some(key) = key {
            args.push("--sign".into());
            args.push(p(key).into_os_string());
        }
        args.push("-o".into());
        args.push(p(out).into_os_string());
        ok(run_cli(args));
    };
    compile(Some("release"), "signed.vwa");
    compile(Some("release"), "signed-again.vwa");
    compile(Some("other"), "other.vwa");
    compile(None, "unsigned.vwa");
    let signed = std::fs::read(p("signed.vwa")).unwrap();
    assert_eq!(signed, std::fs::read(p("signed-again.vwa")).unwrap());
    assert_eq!(
        strip_signature(&signed).unwrap(),
        std::fs::read(p("unsigned.vwa")).unwrap(),
        "byte-reproducible apart from the signature"
    );

    let run = |artifact: &str, keys: &[&str]| {
        let mut args = vec!["run".into(), p(artifact).into_os_string()];
        for k in keys {
            args.push("--trusted-key".into());
            args.push(p(k).into_os_string());
        }
        args.extend(["--invoke".into(), "fib".into(), "10".into()]);
        run_cli(args)
    };
    assert_eq!(ok(run("signed.vwa", &["release.pub"])), "55\n");
    assert_eq!(ok(run("signed.vwa", &["other.pub", "release.pub"])), "55\n");
    assert_eq!(ok(run("unsigned.vwa", &[])), "55\n");
    refused_cli(run("unsigned.vwa", &["release.pub"]), &["not signed"]);
    let inspect = ok(run_cli(["inspect".as_ref(), p("other.vwa").as_os_str()]));
    assert!(
        inspect.contains("signature       ed25519, key SHA256:"),
        "{inspect}"
    );
    refused_cli(
        run("other.vwa", &["release.pub"]),
        &["signed by key SHA256:", "not one of the 1 trusted"],
    );
    let mut tampered = signed.clone();
    let at = tampered.windows(6).position(|w| w == b"signed").unwrap();
    tampered[at] = b'S';
    std::fs::write(p("tampered.vwa"), &tampered).unwrap();
    refused_cli(run("tampered.vwa", &["release.pub"]), &["checksum"]);
    refix_checksum(&mut tampered);
    std::fs::write(p("tampered.vwa"), &tampered).unwrap();
    refused_cli(run("tampered.vwa", &["release.pub"]), &["does not verify"]);
    // A secret key is not a public key.
    refused_cli(run("signed.vwa", &["release"]), &["public-key"]);
    let unsigned_inspect = ok(run_cli(["inspect".as_ref(), p("unsigned.vwa").as_os_str()]));
    assert!(unsigned_inspect.contains("signature       none (unsigned)"));
}
