//! The command line, following Prometheus exporter conventions (`--config.file`,
//! `--web.listen-address`, `--collect.<name>`/`--no-collect.<name>`, `--log.level`).

mod config_cmd;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::collect::{self, Collector};
use crate::config::{self, Config, ConfigError};
use crate::logging::{self, LogFormat, LogLevel};

#[derive(Debug, Parser)]
#[command(
    name = "mysql_pool_exporter",
    version,
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
    /// The config file (targets, pools, thresholds): see examples/config.yml.
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
    /// Address to listen on for /metrics, /probe, /-/healthy, /-/ready and /.
    #[arg(
        long = "web.listen-address",
        default_value = ":9207",
        value_name = "ADDRESS"
    )]
    pub listen_address: String,
    /// Web config (TLS, basic auth) in the exporter-toolkit format.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
    #[arg(long = "log.level", value_enum, default_value = "info", global = true)]
    pub log_level: LogLevel,
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

/// The clap command with one `--collect.X`/`--no-collect.X` pair per collector.
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

pub fn main() -> ExitCode {
    let matches = command(&collect::all()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    logging::init(cli.global.log_level, cli.global.log_format);
    match cli.command {
        Some(Command::Config(ConfigCommand::Check { file })) => config_cmd::check(&file),
        None => {
            let collectors = enabled(collect::all(), &matches);
            serve::run(&cli.global, collectors)
        }
    }
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
