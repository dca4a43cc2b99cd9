//! Builds memscen's heap-leak worker, a small C program (csrc/heapleak.c),
//! with frame pointers everywhere and no inlining or tail calls, so a
//! recorder's frame-pointer walk from malloc's return sees the whole call
//! chain. memscen embeds it and writes it out at run time.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "csrc/heapleak.c";
    println!("cargo:rerun-if-changed={src}");
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        panic!("cargo sets OUT_DIR for build scripts");
    };
    let exe = out.join("memscen-heap");
    // cc finds the target's C compiler (CC, CC_<target>, cc) as for libbpf-sys.
    let compiler = cc::Build::new().opt_level(1).debug(false).get_compiler();
    let mut cmd: Command = compiler.to_command();
    cmd.args([
        "-fno-omit-frame-pointer",
        "-mno-omit-leaf-frame-pointer",
        "-fno-optimize-sibling-calls",
        "-fno-inline",
        "-Wall",
        "-Werror",
        "-Wl,--build-id=sha1",
        "-o",
    ])
    .arg(&exe)
    .arg(src)
    .arg("-ldl");
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running the C compiler {cmd:?}: {e}"));
    assert!(status.success(), "compiling {src} failed: {cmd:?}");
}
