//! The binary answers `--help` and `--version` and refuses other arguments, without
//! starting (before, `health_check --help` started the service with its defaults).

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_health_check"))
        .args(args)
        // A port that cannot be bound: if the binary tried to serve, it would fail, not hang.
        .env("DELOS_HEALTH_CHECK__HTTP__HOST", "203.0.113.1")
        .env(
            "DELOS__PG__URL",
            common::testing::dead_url().replace("http", "postgres"),
        )
        .output()
        .unwrap()
}

#[test]
fn help_and_version_answer_and_unknown_arguments_are_refused() {
    let version = run(&["--version"]);
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("health_check {}", env!("CARGO_PKG_VERSION"))
    );
    let help = run(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("Usage: health_check") && text.contains("DELOS_HEALTH_CHECK__"),
        "{text}"
    );
    for bad in [&["--port", "9000"][..], &["serve"]] {
        let out = run(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("unexpected argument"),
            "{bad:?}"
        );
    }
}
