//! A PostgreSQL primary and a streaming replica of the test's own, made with
//! the server binaries (`pg_config --bindir`: initdb, pg_ctl,
//! pg_basebackup) in a temporary directory, on free ports of 127.0.0.1, as
//! the `postgres` user (PostgreSQL refuses root). The machine's own server
//! is never touched. Both are stopped, and the directory removed, on drop.

use std::path::PathBuf;
use std::process::{Command, Output};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::harness::free_port;

fn bindir() -> PathBuf {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("pg_config (PostgreSQL's server binaries)");
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// Runs a PostgreSQL binary as `postgres` (directly when not root).
fn pg(binary: &str, args: &[&str]) -> Output {
    let program = bindir().join(binary);
    let output = if is_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&program)
            .args(args)
            .output()
    } else {
        Command::new(&program).args(args).output()
    }
    .unwrap_or_else(|error| panic!("{binary}: {error}"));
    assert!(
        output.status.success(),
        "{binary} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// One server of the pair.
pub struct Node {
    pub port: u16,
    data: PathBuf,
    sockets: PathBuf,
}

impl Node {
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> &str {
        self.data.to_str().unwrap()
    }

    pub fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.sockets.display()
        );
        let log = self.data.with_extension("log");
        pg(
            "pg_ctl",
            &[
                "-D",
                self.data(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    /// Stops it the way a crash would (no shutdown checkpoint).
    pub fn stop_immediately(&self) {
        pg(
            "pg_ctl",
            &["-D", self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    /// `pg_ctl stop -m fast`: a clean, quick shutdown (as for a restart).
    pub fn stop_fast(&self) {
        pg("pg_ctl", &["-D", self.data(), "-m", "fast", "-w", "stop"]);
    }

    /// Runs SQL on it (`postgres` database).
    pub fn execute(&self, sql: &str) {
        let mut conn = PgConnection::establish(&self.url()).expect("connect");
        conn.batch_execute(sql)
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }
}

pub struct PgCluster {
    pub primary: Node,
    pub replica: Node,
    /// Removed on drop, after both servers stop.
    _dir: tempfile::TempDir,
}

impl PgCluster {
    /// initdb, start the primary, pg_basebackup -R the replica, start it.
    pub fn start() -> PgCluster {
        let dir = tempfile::Builder::new()
            .prefix("favorites-pgcluster")
            .tempdir()
            .unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let node = |name: &str| Node {
            port: free_port(),
            data: dir.path().join(name),
            sockets: dir.path().to_owned(),
        };
        let (primary, replica) = (node("primary"), node("replica"));
        pg(
            "initdb",
            &[
                "-D",
                primary.data(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        primary.start();
        pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
                "-D",
                replica.data(),
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        replica.start();
        PgCluster {
            primary,
            replica,
            _dir: dir,
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        for node in [&self.replica, &self.primary] {
            let program = bindir().join("pg_ctl");
            let args = ["-D", node.data(), "-m", "immediate", "stop"];
            let _ = if is_root() {
                Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(&program)
                    .args(args)
                    .output()
            } else {
                Command::new(&program).args(args).output()
            };
        }
    }
}
