//! A running tvarr binary, stopped (SIGKILL) when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound then released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18080)
}

/// A child tvarr process.
pub struct TvarrProcess {
    child: Child,
    /// Where it listens (for the server).
    pub base_url: String,
}

impl TvarrProcess {
    /// Starts `binary` with `args` and `envs`, its output going to the test's output.
    pub fn spawn(
        binary: &str,
        args: &[&str],
        envs: &[(&str, &str)],
        port: u16,
    ) -> std::io::Result<Self> {
        let mut command = Command::new(binary);
        command.args(args).stdin(Stdio::null());
        for (k, v) in envs {
            command.env(k, v);
        }
        if std::env::var("TVARR_TEST_LOG").is_err() {
            command.env("TVARR_LOG", "warn");
        }
        let child = command.spawn()?;
        Ok(Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (or another signal name understood by `kill`).
    pub fn signal(&self, name: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status();
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for TvarrProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
