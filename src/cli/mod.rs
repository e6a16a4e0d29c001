//! The command line, following Prometheus exporter conventions (`--config.file`,
//! `--web.listen-address`, `--collect.<name>`/`--no-collect.<name>`, `--log.level`).

mod check;
mod config_cmd;
mod generate;
mod kill_idle;
pub mod logging;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::analysis::kill::Criteria;
use crate::collect::{self, Collector};
use crate::config::{self, Config, ConfigError};
use logging::{LogFormat, LogLevel};

#[derive(Debug, Parser)]
#[command(
    name = "mysql_pool_exporter",
    version,
    // --version is ours: the exporter toolkit's lines, not clap's one.
    disable_version_flag = true,
    about = "Prometheus exporter that sees MySQL/MariaDB connection-pool exhaustion coming and says why."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The config file (targets, pools, thresholds): every field is commented in
    /// examples/config.yml, and the package installs /etc/mysql_pool_exporter/config.yml.
    #[arg(long = "config.file", global = true, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Without a config file: one target, e.g. mysql://exporter@127.0.0.1:3306.
    #[arg(
        long = "mysql.dsn",
        env = "MYSQL_DSN",
        global = true,
        value_name = "DSN",
        hide_env_values = true
    )]
    pub mysql_dsn: Option<String>,
    /// Address to listen on for /metrics, /probe, /-/healthy, /-/ready and /; repeat the
    /// flag to listen on several.
    #[arg(
        long = "web.listen-address",
        default_value = ":9207",
        value_name = "ADDRESS",
        action = clap::ArgAction::Append
    )]
    pub listen_address: Vec<String>,
    /// Use the sockets systemd passes (socket activation) instead of --web.listen-address.
    #[arg(long = "web.systemd-socket", conflicts_with = "listen_address")]
    pub systemd_socket: bool,
    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        default_value = "/metrics",
        value_name = "PATH"
    )]
    pub telemetry_path: String,
    /// Web config (TLS, basic auth) in the exporter-toolkit format.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
    /// How often the sampler reads each target's pools between scrapes (it backs off by
    /// itself while a sample takes more than a tenth of this).
    #[arg(long = "sampler.interval", default_value = "1s", value_name = "DURATION", value_parser = sampler_interval_arg)]
    pub sampler_interval: std::time::Duration,
    /// The trailing window the `_max` series and the verdict's peaks are taken over.
    #[arg(long = "sampler.window", default_value = "60s", value_name = "DURATION", value_parser = sampler_window_arg)]
    pub sampler_window: std::time::Duration,
    /// Samples a second over all targets at most: past this many targets each is sampled
    /// less often than --sampler.interval (1 000 targets at 100: every 10 s), so the
    /// exporter's CPU stays bounded however large the fleet.
    #[arg(long = "sampler.max-rate", default_value = "100", value_name = "PER_SECOND", value_parser = sampler_rate_arg)]
    pub sampler_max_rate: f64,
    /// Print the version, the commit and branch, the build date and the rustc version, and
    /// exit.
    #[arg(long, short = 'V')]
    pub version: bool,
    /// Write the man pages and shell completions into DIR and exit (scripts/release.sh).
    #[arg(long, value_name = "DIR", hide = true)]
    pub generate: Option<PathBuf>,
    /// Log messages at this level and above (to stderr; under systemd, the journal).
    #[arg(long = "log.level", value_enum, default_value = "info", global = true)]
    pub log_level: LogLevel,
    /// logfmt, as Go exporters log, or json (one object a line).
    #[arg(
        long = "log.format",
        value_enum,
        default_value = "logfmt",
        global = true
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One-shot report of the server and every pool; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Check {
        #[arg(long, value_enum, default_value = "text")]
        format: check::Format,
        /// Give up on a server after this long.
        #[arg(long, default_value = "10s", value_parser = duration_arg)]
        timeout: std::time::Duration,
        /// Also judge what a running exporter sampled in its window (pools full between
        /// scrapes, connection churn), e.g. http://127.0.0.1:9207; its targets are matched by
        /// name.
        #[arg(long, value_name = "URL", conflicts_with = "sample_for")]
        exporter: Option<String>,
        /// Without an exporter: sample every second for this long before judging (e.g. 5s),
        /// to see churn and short bursts; 0 reads once.
        #[arg(long, default_value = "0s", value_parser = duration_arg, value_name = "DURATION")]
        sample_for: std::time::Duration,
    },
    /// Kill a pool's sessions that sit idle in a transaction, or idle at the root of a lock
    /// chain (dry run unless --execute).
    ///
    /// Needs CONNECTION ADMIN (MariaDB 10.5+, MySQL 8) or SUPER for the target's account;
    /// the exporter's `serve` never kills anything. A session that works or waits is never
    /// killed: not the statement at the head of a lock queue (an ALTER behind an idle
    /// transaction; cancel it by hand with KILL QUERY <id> if you must).
    ///
    /// Right before each KILL the session is read again, on the connection that listed it,
    /// and killed only if it is the same session (id, user, client host and port, thread
    /// id, transaction start), on the same server run (server_id, server_uuid, start time),
    /// and still qualifies. If that connection is lost or another server run answers (a
    /// restart, a failover), the run stops and kills nothing more. What remains is the
    /// moment between that re-read and the KILL, one round trip on the same connection: a
    /// session that commits within it is killed after its commit (the work is kept), and
    /// one that disconnects within it leaves its id unused (a running server never gives an
    /// id out twice), so KILL finds no such thread.
    #[command(group(clap::ArgGroup::new("which").required(true).multiple(true)
        .args(["idle_in_transaction_older_than", "idle_older_than", "root_blockers"])))]
    KillIdle {
        /// The pool (a `pools[].name` of the config); nothing outside it is touched.
        #[arg(long)]
        pool: String,
        /// Kill sessions idle with an open transaction older than this, e.g. 5m.
        #[arg(long, value_parser = duration_arg)]
        idle_in_transaction_older_than: Option<std::time::Duration>,
        /// Kill idle sessions at the root of a lock chain (any kind of lock) whose waiters
        /// have waited longer than the config's thresholds.lock_wait.
        #[arg(long)]
        root_blockers: bool,
        /// Also kill sessions idle (no transaction) for longer than this.
        #[arg(long, value_parser = duration_arg)]
        idle_older_than: Option<std::time::Duration>,
        /// Really kill; without it nothing is killed and the victims are listed.
        #[arg(long)]
        execute: bool,
        /// With --execute: list the victims, then ask before killing them (answer y on
        /// stdin). Each is still re-read right before its kill.
        #[arg(long, requires = "execute")]
        confirm: bool,
        /// End at most this many sessions per target (sessions actually killed; spared
        /// ones do not count).
        #[arg(long, default_value_t = 100)]
        max_kills: usize,
        /// How long listing, and then each kill, may take.
        #[arg(long, default_value = "10s", value_parser = duration_arg)]
        timeout: std::time::Duration,
        /// text, or json: every candidate with its identity and outcome (a dry run lists
        /// exactly what --execute would then try, in that order).
        #[arg(long, value_enum, default_value = "text")]
        format: check::Format,
    },
    /// Validate a config file and print what it means (secrets redacted).
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate FILE; exit 0 and print the effective config, or exit 1 with the error.
    Check {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// The clap command with one `--collect.X`/`--no-collect.X` pair and one
/// `--collect.X.interval` per collector.
fn command(collectors: &[Box<dyn Collector>]) -> clap::Command {
    let mut cmd = Cli::command();
    for c in collectors {
        let name = c.name();
        let default = if c.enabled_by_default() { "on" } else { "off" };
        cmd = cmd
            .arg(
                clap::Arg::new(format!("collect.{name}"))
                    .long(format!("collect.{name}"))
                    .action(ArgAction::SetTrue)
                    .overrides_with(format!("no-collect.{name}"))
                    .help(format!("Collect {} (default {default})", c.help())),
            )
            .arg(
                clap::Arg::new(format!("no-collect.{name}"))
                    .long(format!("no-collect.{name}"))
                    .action(ArgAction::SetTrue)
                    .overrides_with(format!("collect.{name}"))
                    .hide(true),
            )
            .arg(
                clap::Arg::new(format!("collect.{name}.interval"))
                    .long(format!("collect.{name}.interval"))
                    .value_name("DURATION")
                    .value_parser(duration_arg)
                    .default_value("0s")
                    // A collector that runs no query of its own has nothing to reuse.
                    .hide(c.sources().is_empty())
                    .help(format!(
                        "Run the queries of {name} at most this often, reusing the last \
                         result in between (0s: every scrape)"
                    )),
            );
    }
    cmd
}

/// The collectors the flags leave on.
fn enabled(collectors: Vec<Box<dyn Collector>>, m: &ArgMatches) -> Vec<Box<dyn Collector>> {
    collectors
        .into_iter()
        .filter(|c| {
            let on = m.get_flag(&format!("collect.{}", c.name()));
            let off = m.get_flag(&format!("no-collect.{}", c.name()));
            (c.enabled_by_default() || on) && !off
        })
        .collect()
}

/// How long each enabled collector's result may be reused (`--collect.X.interval`).
fn interval_of(m: &ArgMatches) -> impl Fn(&dyn Collector) -> std::time::Duration + '_ {
    |c| {
        m.get_one::<std::time::Duration>(&format!("collect.{}.interval", c.name()))
            .copied()
            .unwrap_or_default()
    }
}

pub fn main() -> ExitCode {
    let matches = command(&collect::all()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    if cli.global.version {
        print!("{}", crate::build_info::long_version());
        return ExitCode::SUCCESS;
    }
    if let Some(dir) = &cli.global.generate {
        return match generate::write(dir, command(&collect::all())) {
            Ok(files) => {
                for f in files {
                    println!("{}", f.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: --generate: {e}");
                ExitCode::from(1)
            }
        };
    }
    logging::init(cli.global.log_level, cli.global.log_format);
    if let Some(Command::Config(ConfigCommand::Check { file })) = &cli.command {
        return config_cmd::check(file);
    }
    // What failed before anything runs: said once, as `error: ...` on stderr; `check` says
    // UNKNOWN (Nagios 3), `kill-idle` 2, serving 1.
    let fail = |code: u8, e: &dyn std::fmt::Display| {
        eprintln!("error: {e}");
        ExitCode::from(code)
    };
    let early_code = match cli.command {
        Some(Command::Check { .. }) => 3,
        Some(Command::KillIdle { .. }) => 2,
        _ => 1,
    };
    let config = match load_config(&cli.global) {
        Ok(c) => c,
        Err(e) => return fail(early_code, &e),
    };
    // One runtime for every command: two workers, the exporter is I/O-bound.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(early_code, &format!("cannot start the async runtime: {e}")),
    };
    match cli.command {
        // Answered before the config was loaded; kept so the match stays exhaustive.
        Some(Command::Config(ConfigCommand::Check { file })) => config_cmd::check(&file),
        Some(Command::Check {
            format,
            timeout,
            exporter,
            sample_for,
        }) => {
            let recent = match exporter {
                Some(url) => check::Recent::Exporter(url),
                None if sample_for.is_zero() => check::Recent::None,
                None => check::Recent::SampleFor(sample_for),
            };
            check::run(config, format, timeout, recent, &runtime)
        }
        Some(Command::KillIdle {
            pool,
            idle_in_transaction_older_than,
            root_blockers,
            idle_older_than,
            execute,
            max_kills,
            timeout,
            format,
            confirm,
        }) => kill_idle::run(
            kill_idle::Args {
                criteria: Criteria {
                    pool,
                    idle_in_transaction_older_than,
                    idle_older_than,
                    root_blockers: root_blockers.then_some(config.thresholds.lock_wait),
                },
                execute,
                max_kills,
                timeout,
                format,
                confirm,
            },
            config,
            &runtime,
        ),
        None => {
            let collectors = enabled(collect::all(), &matches);
            let intervals = collect::source_intervals(&collectors, interval_of(&matches));
            match serve::run(&cli.global, config, collectors, intervals, &runtime) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(1, &e),
            }
        }
    }
}

fn duration_arg(s: &str) -> Result<std::time::Duration, String> {
    config::parse_duration(s)
}

fn sampler_interval_arg(s: &str) -> Result<std::time::Duration, String> {
    let d = duration_arg(s)?;
    if d < std::time::Duration::from_millis(100) {
        return Err(format!(
            "{s} is too short to sample a server (the least is 100ms; the default is 1s; --no-collect.sampler turns sampling off)"
        ));
    }
    Ok(d)
}

fn sampler_rate_arg(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "`{s}` is not a rate: give samples a second over all targets, above 0 (the default is 100)"
        )),
    }
}

fn sampler_window_arg(s: &str) -> Result<std::time::Duration, String> {
    let d = duration_arg(s)?;
    if !(std::time::Duration::from_secs(2)..=std::time::Duration::from_secs(3600)).contains(&d) {
        return Err(format!(
            "{s} is not a window from 2s to 1h; give it several scrape intervals, e.g. 60s (the default)"
        ));
    }
    Ok(d)
}

fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// The config from `--config.file`, else from `--mysql.dsn`/`MYSQL_DSN`.
pub fn load_config(global: &GlobalArgs) -> Result<Config, ConfigError> {
    match (&global.config_file, &global.mysql_dsn) {
        (Some(file), _) => config::load(file, &process_env),
        (None, Some(dsn)) => config::from_dsn(dsn, &process_env),
        (None, None) => Err(ConfigError {
            file: None,
            line: None,
            path: None,
            message: "nothing to monitor: pass --config.file FILE, or --mysql.dsn / MYSQL_DSN \
                      (e.g. mysql://exporter@127.0.0.1:3306)"
                .into(),
        }),
    }
}
