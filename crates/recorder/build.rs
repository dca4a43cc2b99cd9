//! Compiles each probe group's BPF program and generates its Rust skeleton.
//! The list of groups here is the C side of the registry in src/probes/mod.rs.

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const GROUPS: &[&str] = &["procstat", "sysstat", "paf", "pr", "oom"];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let bpf = manifest.join("../../bpf");
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into());
    let target_arch = match arch.as_str() {
        "x86_64" => "x86",
        "aarch64" => "arm64",
        "riscv64" => "riscv",
        "powerpc64" => "powerpc",
        "s390x" => "s390",
        other => other,
    };
    let vmlinux = bpf.join("vmlinux").join(&arch);

    for group in GROUPS {
        let src = bpf.join(group).join(format!("{group}.bpf.c"));
        let skel = out.join(format!("{group}.skel.rs"));
        let result = SkeletonBuilder::new()
            .source(&src)
            .clang_args([
                "-Wall".to_string(),
                "-Werror".to_string(),
                format!("-D__TARGET_ARCH_{target_arch}"),
                format!("-I{}", vmlinux.display()),
                format!("-I{}", bpf.display()),
            ])
            .build_and_generate(&skel);
        if let Err(e) = result {
            // A build script can only report by panicking; show the whole chain.
            panic!("building BPF program {}: {e:#}", src.display());
        }
    }
    println!("cargo:rerun-if-changed={}", bpf.display());
}
