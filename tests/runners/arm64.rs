//! The static `aarch64-unknown-linux-musl` binary (packaging/build-image.sh builds it with
//! cargo-zigbuild) started under qemu-user-static: it must start, parse its CLI, and talk to the
//! emulator's registry, which exercises TLS roots loading, the HTTP stack and tokio on arm64.

use std::path::PathBuf;
use std::process::Command;

use super::{google, run, show, tool};
use crate::common::emulator::TOKEN;

const TARGET: &str = "aarch64-unknown-linux-musl";

/// The arm64 release binary build-image.sh leaves in cargo's target directory.
fn arm64_binary() -> PathBuf {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::repo().join("target"));
    let binary = target_dir.join(TARGET).join("release/binauthz-attest");
    assert!(
        binary.is_file(),
        "{} is missing; build it first: packaging/build-image.sh",
        binary.display()
    );
    // An ELF for AArch64 (e_machine 183), statically linked (no PT_INTERP program header).
    let elf = std::fs::read(&binary).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(
        u16::from_le_bytes([elf[18], elf[19]]),
        183,
        "not an AArch64 ELF"
    );
    let readelf = run(Command::new("readelf").arg("-l").arg(&binary));
    assert!(readelf.status.success(), "{}", show(&readelf));
    assert!(
        !String::from_utf8_lossy(&readelf.stdout).contains("program interpreter"),
        "the arm64 binary is dynamically linked"
    );
    binary
}

fn qemu(binary: &PathBuf) -> Command {
    let mut cmd = Command::new(tool(
        "qemu-aarch64-static",
        "apt-get install qemu-user-static",
    ));
    cmd.arg(binary);
    cmd
}

#[test]
fn arm64_binary_starts_under_qemu_and_parses_its_cli() {
    let binary = arm64_binary();
    let out = run(qemu(&binary).arg("--version"));
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("binauthz-attest {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(qemu(&binary).args(["sign", "--help"]));
    assert!(out.status.success(), "{}", show(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.lines()
            .any(|l| l.starts_with("Usage: binauthz-attest sign")),
        "{help}"
    );
    // A usage error is exit 2 there as here.
    let out = run(qemu(&binary).args(["sign", "--attestor", "not a name"]));
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn arm64_binary_resolves_a_digest_from_the_emulator_under_qemu() {
    let binary = arm64_binary();
    let emu = google(&["arm"]);
    let host = emu.host();
    let out = run(qemu(&binary)
        .args(["digest", &format!("{host}/demo/apps/arm:v1")])
        .args(["--insecure-registry", &host, "--google-registry", &host])
        .env_clear()
        .env("HOME", emu.dir.path())
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        .env("GCE_METADATA_HOST", &host));
    assert!(out.status.success(), "{}", show(&out));
    let digest = emu.registry_digest("demo/apps/arm", "v1");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{host}/demo/apps/arm@{digest}")
    );
}
