//! `mysql_pool_exporter config check FILE`.

use std::path::Path;
use std::process::ExitCode;

pub fn check(file: &Path) -> ExitCode {
    match crate::config::load(file, &super::process_env) {
        Ok(config) => {
            println!(
                "# {}: valid. Effective configuration (secrets redacted):",
                file.display()
            );
            print!("{}", config.render());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
