//! The web console in a real browser: `console-tests/console.test.mjs` (playwright-core from
//! npm driving Debian's chromium) against the real `iocd` binary. Needs `npm ci` in
//! `console-tests` and `/usr/bin/chromium` (or `$CHROMIUM`); `.ci/run` installs both.
//! Screenshots of each page are saved under the folder the test prints.

use std::path::Path;
use std::process::Command;

#[test]
fn the_console_works_in_a_browser() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console-tests");
    assert!(
        tests.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `npm ci` in console-tests"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&chromium).exists(),
        "no Chromium at {chromium}: apt-get install chromium, or set CHROMIUM"
    );
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let output = Command::new("node")
        .arg(tests.join("console.test.mjs"))
        .env("IOCD_BIN", env!("CARGO_BIN_EXE_iocd"))
        .env("IOCD_SCREENSHOTS", &screenshots)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.trim_end().ends_with("OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
