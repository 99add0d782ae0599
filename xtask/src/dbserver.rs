//! Database servers the tests and benchmarks use, driven with their own command-line clients
//! (`psql`, `mariadb`), so xtask needs no database driver.

use std::process::Command;

/// The parts of a database URL the command-line clients need.
pub struct ServerAddress {
    postgres: bool,
    user: String,
    password: Option<String>,
    host: String,
    port: String,
    /// The database the URL names.
    pub database: String,
    prefix: String,
    query: String,
}

impl ServerAddress {
    /// Reads a `postgres://` or `mysql://` URL; `None` for anything else.
    pub fn parse(url: &str) -> Option<ServerAddress> {
        let (scheme, rest) = url.split_once("://")?;
        let postgres = match scheme {
            "postgres" | "postgresql" => true,
            "mysql" | "mariadb" => false,
            _ => return None,
        };
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, format!("?{query}")),
            None => (rest, String::new()),
        };
        let (authority, database) = rest.split_once('/')?;
        let (credentials, host_port) = authority.rsplit_once('@').unwrap_or(("", authority));
        let (user, password) = match credentials.split_once(':') {
            Some((user, password)) => (user, Some(password.to_owned())),
            None => (credentials, None),
        };
        let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, ""));
        Some(ServerAddress {
            postgres,
            user: user.to_owned(),
            password,
            host: host.to_owned(),
            port: port.to_owned(),
            database: database.to_owned(),
            prefix: format!("{scheme}://{authority}"),
            query,
        })
    }

    /// The URL of database `name` on the same server.
    pub fn url_of(&self, name: &str) -> String {
        format!("{}/{name}{}", self.prefix, self.query)
    }

    /// Runs `sql` with the server's client; its output, or why it failed.
    pub fn run(&self, sql: &str) -> Result<String, String> {
        let mut command = if self.postgres {
            let mut c = Command::new("psql");
            c.args(["-h", &self.host, "-U", &self.user, "-d", "postgres"])
                .args(["-v", "ON_ERROR_STOP=1", "-tA", "-c", sql]);
            if !self.port.is_empty() {
                c.args(["-p", &self.port]);
            }
            if let Some(password) = &self.password {
                c.env("PGPASSWORD", password);
            }
            c
        } else {
            let mut c = Command::new("mariadb");
            c.args(["-h", &self.host, "-u", &self.user, "-N", "-B", "-e", sql]);
            if !self.port.is_empty() {
                c.args(["-P", &self.port]);
            }
            if let Some(password) = &self.password {
                c.env("MYSQL_PWD", password);
            }
            c
        };
        match command.output() {
            Ok(output) if output.status.success() => {
                Ok(String::from_utf8_lossy(&output.stdout).into_owned())
            }
            Ok(output) => Err(String::from_utf8_lossy(&output.stderr).trim().to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Drops database `name` if it exists.
    pub fn drop_database(&self, name: &str) -> Result<String, String> {
        let force = if self.postgres { " WITH (FORCE)" } else { "" };
        self.run(&format!("DROP DATABASE IF EXISTS {name}{force}"))
    }

    /// Creates an empty database `name`, dropping one of that name first.
    pub fn recreate_database(&self, name: &str) -> Result<String, String> {
        self.drop_database(name)?;
        self.run(&format!("CREATE DATABASE {name}"))
    }
}

/// Gives a database pass a clean server: drops the databases that earlier runs' isolated tests
/// left behind (`tvarr_*`) and recreates the shared test database empty, so a second run on
/// the same machine sees what the first saw. Best effort: a failure is printed, and the tests
/// themselves then say what is wrong.
pub fn reset(url: &str) {
    let Some(server) = ServerAddress::parse(url) else {
        return;
    };
    let list = if server.postgres {
        "SELECT datname FROM pg_database WHERE datname LIKE 'tvarr\\_%'"
    } else {
        "SHOW DATABASES LIKE 'tvarr\\_%'"
    };
    let leftovers: Vec<String> = match server.run(list) {
        Ok(out) => out
            .lines()
            .map(str::trim)
            .filter(|n| n.starts_with("tvarr_"))
            .map(str::to_owned)
            .collect(),
        Err(e) => {
            println!("    cannot list leftover test databases: {e}");
            Vec::new()
        }
    };
    for name in &leftovers {
        if let Err(e) = server.drop_database(name) {
            println!("    cannot drop {name}: {e}");
        }
    }
    match server.recreate_database(&server.database) {
        Ok(_) => println!(
            "    dropped {} leftover test database(s); {} recreated empty",
            leftovers.len(),
            server.database
        ),
        Err(e) => println!("    cannot recreate {}: {e}", server.database),
    }
}
