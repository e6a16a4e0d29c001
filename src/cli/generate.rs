//! `--generate DIR`: the man pages and shell completions, rendered from the very clap
//! definitions that parse the flags (the `--collect.X` ones included), so they cannot drift
//! from them. The package and the release tarball ship what this writes
//! (scripts/release.sh); nothing else writes them.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap_complete::{Generator, Shell};
use roff::{bold, italic, roman, Roff};

use crate::build_info;

/// The shells we ship completions for (Cargo.toml's package assets say where each goes).
const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// Writes `DIR/man/*.1` (the exporter's page and one per subcommand) and
/// `DIR/completions/` (bash, zsh, fish); returns the files written.
pub fn write(dir: &Path, cmd: clap::Command) -> Result<Vec<PathBuf>, String> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    let man = dir.join("man");
    let completions = dir.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let page = |cmd: &clap::Command| {
        clap_mangen::Man::new(cmd.clone())
            .date(man_date())
            .source(format!("mysql_pool_exporter {}", build_info::VERSION))
            .manual("mysql_pool_exporter")
    };
    // The exporter's own page: clap's sections, then what flags cannot say.
    let mut text = Vec::new();
    let main = page(&cmd);
    let render = |text: &mut Vec<u8>| -> std::io::Result<()> {
        main.render_title(text)?;
        main.render_name_section(text)?;
        main.render_synopsis_section(text)?;
        main.render_description_section(text)?;
        main.render_options_section(text)?;
        main.render_subcommands_section(text)?;
        text.write_all(extra_sections().render().as_bytes())?;
        main.render_version_section(text)
    };
    render(&mut text).map_err(|e| format!("cannot render the man page: {e}"))?;
    written.push(save(&man.join(main.get_filename()), &text)?);
    // One page per subcommand, nested ones included (`config check`).
    let mut stack: Vec<clap::Command> = cmd.get_subcommands().cloned().collect();
    while let Some(sub) = stack.pop() {
        if sub.is_hide_set() {
            continue;
        }
        stack.extend(sub.get_subcommands().cloned());
        let sub_page = page(&sub);
        let mut text = Vec::new();
        sub_page
            .render(&mut text)
            .map_err(|e| format!("cannot render the man page of {}: {e}", sub.get_name()))?;
        written.push(save(&man.join(sub_page.get_filename()), &text)?);
    }
    for shell in SHELLS {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut cmd, "mysql_pool_exporter", &mut text);
        let name = shell.file_name("mysql_pool_exporter");
        written.push(save(&completions.join(name), &text)?);
    }
    written.sort();
    Ok(written)
}

fn save(path: &Path, bytes: &[u8]) -> Result<PathBuf, String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path.to_path_buf())
}

/// The build date's day (`2026-12-05`): the page changes with the commit, not the clock.
fn man_date() -> String {
    let d = build_info::BUILD_DATE;
    match (d.get(0..4), d.get(4..6), d.get(6..8)) {
        (Some(y), Some(m), Some(day)) if d.len() == 17 => format!("{y}-{m}-{day}"),
        _ => String::new(),
    }
}

/// What an operator looks up in a man page and no flag carries: a section title, then each
/// term and what it means.
const SECTIONS: [(&str, &[(&str, &str)]); 4] = [
    (
        "HTTP ENDPOINTS",
        &[
            ("/metrics", "Every target's metrics, with a target label when there are several (--web.telemetry-path)."),
            ("/probe?target=NAME", "One target's metrics, for a Prometheus job per target."),
            ("/-/healthy", "200 while the process serves."),
            ("/-/ready", "200 once a target has answered."),
            ("/", "The status page: each pool, its verdict and the sessions to blame."),
        ],
    ),
    (
        "EXIT STATUS",
        &[
            ("serving (no command)", "0 after SIGTERM or SIGINT; 1 when it could not start or serve (the reason on stderr)."),
            ("check", "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, as Nagios plugins."),
            ("kill-idle", "0 when every target ran to its end; 1 when a target's run stopped (a lost connection, another server run, a refused KILL); 2 when nothing could start (bad flags or config)."),
            ("config check", "0 when the file is valid (its effective config is printed), else 1."),
        ],
    ),
    (
        "ENVIRONMENT",
        &[
            ("MYSQL_DSN", "The one target when there is no --config.file, as --mysql.dsn."),
            ("MYSQL_PASSWORD", "The password when neither the target's password_file nor its DSN gives one."),
        ],
    ),
    (
        "FILES",
        &[
            ("/etc/mysql_pool_exporter/config.yml", "The targets, pools and thresholds of the packaged service (--config.file). Validate it with: mysql_pool_exporter config check FILE"),
            ("/etc/mysql_pool_exporter/password", "The packaged config's password_file: the exporter account's password, mode 0640, owner root, group mysql_pool_exporter."),
            ("/etc/default/mysql_pool_exporter", "ARGS, the flags the packaged systemd unit passes."),
        ],
    ),
];

/// [`SECTIONS`] and SEE ALSO, as roff.
fn extra_sections() -> Roff {
    let mut r = Roff::new();
    for (title, items) in SECTIONS {
        r.control("SH", [title]);
        for (term, text) in items {
            r.control("TP", []).text([bold(*term)]).text([roman(*text)]);
        }
    }
    r.control("SH", ["SEE ALSO"]);
    r.text([
        bold("mysql_pool_exporter-check"),
        roman("(1), "),
        bold("mysql_pool_exporter-kill-idle"),
        roman("(1), "),
        bold("systemd.exec"),
        roman("(5), and the documentation shipped in "),
        italic("/usr/share/doc/mysql-pool-exporter"),
        roman("."),
    ]);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visible_flag_is_on_the_man_page_and_in_the_completions() {
        let dir = std::env::temp_dir().join(format!("mpe-generate-{}", std::process::id()));
        let cmd = super::super::command(&crate::collect::all());
        let files = write(&dir, cmd.clone()).unwrap();
        let read = |name: &str| {
            let path = files
                .iter()
                .find(|p| p.ends_with(name))
                .unwrap_or_else(|| panic!("{name} in {files:?}"));
            std::fs::read_to_string(path).unwrap()
        };
        let page = read("man/mysql_pool_exporter.1");
        let bash = read("completions/mysql_pool_exporter.bash");
        let mut cmd = cmd;
        cmd.build();
        let longs: Vec<_> = cmd
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long())
            .collect();
        assert!(longs.len() > 20, "{longs:?}");
        for long in longs {
            // roff escapes `-` as `\-`.
            let roffed = format!("\\-\\-{}", long.replace('-', "\\-"));
            assert!(page.contains(&roffed), "--{long} missing from the man page");
            assert!(
                bash.contains(&format!("--{long}")),
                "--{long} missing from the bash completion"
            );
        }
        for sub in ["check", "kill-idle", "config", "config-check"] {
            let sub_page = read(&format!("man/mysql_pool_exporter-{sub}.1"));
            assert!(sub_page.starts_with(".ie"), "{sub}: {}", &sub_page[..40]);
        }
        assert!(page.contains("EXIT STATUS") && page.contains("/etc/default/mysql_pool_exporter"));
        assert!(
            !page.contains("generate"),
            "the hidden --generate is left out"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
