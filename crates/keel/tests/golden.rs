//! Golden tests: recorded command lines and their expected JSON output.
//!
//! Each `golden/NN-name.cmd` holds one `keel` command line per line (`$TMP` is a
//! fresh temporary directory; paths are relative to the workspace root). The JSON
//! printed by the last line is compared with `golden/NN-name.json`, numbers to
//! 1e-6 relative (runtimes and file paths are not compared). Set
//! `KEEL_REGENERATE=1` to rewrite the expected files after an intended change.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Fields that legitimately differ between runs.
const VOLATILE: &[&str] = &["runtime_s", "source"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_case(cmd_file: &Path, tmp: &Path) -> Value {
    let script = std::fs::read_to_string(cmd_file).expect("read case");
    let mut last = String::new();
    for line in script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let args: Vec<String> = line
            .split_whitespace()
            .map(|a| a.replace("$TMP", &tmp.display().to_string()))
            .collect();
        let out = Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(&args)
            .current_dir(workspace_root())
            .output()
            .expect("run keel");
        assert!(
            out.status.success(),
            "{}: `keel {line}` failed: {}",
            cmd_file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        last = String::from_utf8(out.stdout).expect("utf-8 output");
    }
    let mut value: Value = serde_json::from_str(&last).expect("the last command prints JSON");
    strip_volatile(&mut value);
    value
}

fn strip_volatile(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for key in VOLATILE {
                map.remove(*key);
            }
            map.values_mut().for_each(strip_volatile);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_volatile),
        _ => {}
    }
}

/// Differences between `got` and `want`, as JSON paths.
fn diff(got: &Value, want: &Value, path: &str, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            if (a - b).abs() > 1e-6 * a.abs().max(b.abs()) + 1e-6 {
                out.push(format!("{path}: got {a}, expected {b}"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for (k, wv) in b {
                match a.get(k) {
                    Some(gv) => diff(gv, wv, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}: missing")),
                }
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                out.push(format!("{path}.{k}: not expected"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (gv, wv)) in a.iter().zip(b).enumerate() {
                diff(gv, wv, &format!("{path}[{i}]"), out);
            }
        }
        _ if got == want => {}
        _ => out.push(format!("{path}: got {got}, expected {want}")),
    }
}

#[test]
fn golden_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("golden dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "cmd"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 5,
        "expected the golden cases in {}",
        dir.display()
    );
    let regenerate = std::env::var_os("KEEL_REGENERATE").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let tmp = std::env::temp_dir().join(format!(
            "keel-golden-{}-{}",
            std::process::id(),
            case.file_stem().and_then(|s| s.to_str()).unwrap_or("case")
        ));
        std::fs::create_dir_all(&tmp).expect("temp dir");
        let got = run_case(case, &tmp);
        let _ = std::fs::remove_dir_all(&tmp);
        let expected_file = case.with_extension("json");
        if regenerate {
            let text = serde_json::to_string_pretty(&got).expect("encode") + "\n";
            std::fs::write(&expected_file, text).expect("write expected");
            continue;
        }
        let want: Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_file)
                .unwrap_or_else(|_| panic!("missing {}", expected_file.display())),
        )
        .expect("expected JSON");
        let mut diffs = Vec::new();
        diff(&got, &want, "$", &mut diffs);
        if !diffs.is_empty() {
            failures.push(format!("{}:\n  {}", case.display(), diffs.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}
