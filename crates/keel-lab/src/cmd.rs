//! Running the iproute2 binaries. The lab is a test harness, so it drives `ip`
//! and `tc` (batched per namespace to keep large labs fast) rather than netlink.

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};

use crate::error::{LabError, Result};

/// One invocation: a program, its arguments and optional batch input on stdin.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    program: &'static str,
    args: Vec<String>,
    stdin: Option<String>,
}

impl Invocation {
    pub(crate) fn new<I, S>(program: &'static str, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Invocation {
            program,
            args: args.into_iter().map(Into::into).collect(),
            stdin: None,
        }
    }

    /// Feeds `lines` on stdin (for `-batch -`).
    pub(crate) fn with_stdin(mut self, lines: String) -> Self {
        self.stdin = Some(lines);
        self
    }

    pub(crate) fn describe(&self) -> String {
        let mut s = self.program.to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }

    fn spawn(&self) -> Result<Child> {
        let mut cmd = Command::new(self.program);
        cmd.args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| LabError::Spawn {
            command: self.describe(),
            source,
        })?;
        if let (Some(input), Some(mut pipe)) = (self.stdin.clone(), child.stdin.take()) {
            // From a thread: a long batch may fill the stdin pipe while the
            // child fills stderr, and both sides would wait forever. A write
            // error means the child stopped reading (it failed); its exit
            // status and stderr tell why.
            std::thread::spawn(move || {
                let _ = pipe.write_all(input.as_bytes());
            });
        }
        Ok(child)
    }

    fn finish(&self, out: std::io::Result<Output>) -> Result<String> {
        let out = out.map_err(|source| LabError::Spawn {
            command: self.describe(),
            source,
        })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        // `ip -batch`/`tc -batch` name the failing line as "Command failed -:N";
        // quote that line so the error says what was attempted.
        if let Some(input) = &self.stdin
            && let Some(n) = stderr
                .rsplit("Command failed -:")
                .next()
                .filter(|_| stderr.contains("Command failed -:"))
                .and_then(|rest| rest.trim().parse::<usize>().ok())
            && let Some(line) = input.lines().nth(n.saturating_sub(1))
        {
            stderr.push_str(&format!(" [batch line {n}: {line}]"));
        }
        Err(LabError::Command {
            command: self.describe(),
            status: out.status.to_string(),
            stderr,
        })
    }

    /// Runs to completion; stdout on success, a [`LabError::Command`] with the
    /// stderr otherwise.
    pub(crate) fn run(&self) -> Result<String> {
        let child = self.spawn()?;
        self.finish(child.wait_with_output())
    }
}

/// Runs invocations with up to `parallel` at a time; the first error (in input
/// order) wins, but every started child is waited for.
pub(crate) fn run_all(invocations: &[Invocation], parallel: usize) -> Result<Vec<String>> {
    let mut outputs = Vec::with_capacity(invocations.len());
    let mut first_err = None;
    for chunk in invocations.chunks(parallel.max(1)) {
        let children: Vec<_> = chunk.iter().map(|i| (i, i.spawn())).collect();
        for (inv, child) in children {
            let res = child.and_then(|c| inv.finish(c.wait_with_output()));
            match res {
                Ok(out) => outputs.push(out),
                Err(e) => {
                    outputs.push(String::new());
                    first_err.get_or_insert(e);
                }
            }
        }
        if first_err.is_some() {
            break;
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(outputs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_errors_quote_the_failing_line() {
        let inv = Invocation::new("ip", ["-batch", "-"])
            .with_stdin("link show dev lo\nlink show dev kl-no-such-if0\n".to_string());
        match inv.run() {
            Err(LabError::Command {
                command, stderr, ..
            }) => {
                assert_eq!(command, "ip -batch -");
                assert!(
                    stderr.contains("[batch line 2: link show dev kl-no-such-if0]"),
                    "{stderr}"
                );
            }
            Err(LabError::Spawn { .. }) => eprintln!("SKIP: no ip binary"),
            other => panic!("expected a failed batch, got {other:?}"),
        }
    }

    #[test]
    fn missing_programs_are_spawn_errors() {
        let inv = Invocation::new("keel-lab-no-such-program", ["x"]);
        let err = inv.run().expect_err("no such program");
        assert!(matches!(err, LabError::Spawn { .. }));
        assert!(err.to_string().contains("keel-lab-no-such-program x"));
    }
}
