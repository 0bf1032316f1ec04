//! PostgreSQL as the oracle, through `psql` (installed with the server on every machine
//! Strata is tested on): each run gets a schema of its own, dropped at the end.

use std::process::Command;

/// Where PostgreSQL listens and as whom to connect.
#[derive(Clone, Debug)]
pub struct Pg {
    /// `psql` connection flags' values.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User.
    pub user: String,
    /// Database.
    pub db: String,
    /// The schema this run's tables live in.
    pub schema: String,
}

/// What PostgreSQL answered.
pub type PgResult = Result<Vec<Vec<String>>, String>;

impl Pg {
    /// The server every test machine runs (127.0.0.1:5432, trust auth, database `test`),
    /// or the one `STRATA_FUZZ_PG` names as `host:port/user/db`.
    pub fn default_for(seed: u64) -> Pg {
        let spec = std::env::var("STRATA_FUZZ_PG").unwrap_or_default();
        let mut parts = spec.split('/');
        let hostport = parts
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("127.0.0.1:5432");
        let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
        Pg {
            host: host.to_string(),
            port: port.parse().unwrap_or(5432),
            user: parts.next().unwrap_or("postgres").to_string(),
            db: parts.next().unwrap_or("test").to_string(),
            schema: format!("strata_fuzz_{}_{seed}", std::process::id()),
        }
    }

    fn psql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-F", "\u{1f}", "-P", "null=NULL"])
            .args(["-h", &self.host, "-p", &self.port.to_string()])
            .args(["-U", &self.user, "-d", &self.db])
            .env("PGOPTIONS", format!("-c search_path={}", self.schema))
            .env("PGCONNECT_TIMEOUT", "10")
            .args(["-c", sql])
            .output()
            .map_err(|e| format!("cannot run psql: {e} (install postgresql-client)"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// Whether the server answers.
    pub fn available(&self) -> Result<(), String> {
        self.psql("SELECT 1").map(|_| ())
    }

    /// Creates this run's schema and loads `script` (CREATE TABLE, INSERT) into it.
    pub fn load(&self, script: &str) -> Result<(), String> {
        self.psql(&format!(
            "DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s}",
            s = self.schema
        ))?;
        self.psql(&format!("BEGIN; {script} COMMIT;")).map(|_| ())
    }

    /// Runs a query: its rows as text cells, or the server's error.
    pub fn query(&self, sql: &str) -> PgResult {
        let text = self.psql(sql)?;
        Ok(text
            .lines()
            .map(|l| l.split('\u{1f}').map(str::to_string).collect())
            .collect())
    }

    /// Drops this run's schema.
    pub fn drop_schema(&self) {
        let _ = self.psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
    }
}
