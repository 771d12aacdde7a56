//! The real `nop` binary: what a build pod's last container prints and how it exits.

use std::process::Command;

#[test]
fn prints_build_successful_and_exits_0_whatever_its_arguments() {
    for args in [&[][..], &["-ignored", "arguments"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_nop"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "Build successful\n"
        );
        assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn an_unwritable_output_is_an_error_not_a_panic() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_nop"))
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    // The reason is the operating system's, worded by the Rust version.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("nop: error: cannot write to standard output: "),
        "{stderr}"
    );
}
