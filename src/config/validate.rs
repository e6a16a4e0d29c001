//! From the file as written to the effective `Config`: every check a config must pass, in
//! the order the file reads (targets, pools, thresholds, limits), each error with its field
//! path and line; passwords read from their files, patterns compiled.

use std::path::Path;

use super::{
    file, load_ca_file, parse_dsn, Config, ConfigError, Dsn, Matcher, PasswordSource, PoolConfig,
    Secret, TargetConfig, TlsConfig, TlsMode,
};

pub(super) fn validate(
    raw: file::FileConfig,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let targets = validate_targets(raw.targets, base, env)?;
    let pools = validate_pools(raw.pools, &targets)?;
    check_thresholds(&raw.thresholds)?;
    check_limits(&raw.limits)?;
    Ok(Config {
        targets,
        pools,
        thresholds: raw.thresholds.into(),
        limits: raw.limits.into(),
    })
}

/// A config without a target would start an exporter that watches nothing.
fn validate_targets(
    raw: Vec<serde_saphyr::Spanned<file::TargetSpec>>,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<TargetConfig>, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::at(
            "targets",
            None,
            "no target is configured; add one, e.g. `targets: [{name: primary, dsn: \"mysql://exporter@127.0.0.1:3306\"}]`",
        ));
    }
    let mut targets: Vec<TargetConfig> = Vec::new();
    for (i, spanned) in raw.into_iter().enumerate() {
        let line = Some(spanned.referenced.line());
        let path = format!("targets[{i}]");
        let target = validate_target(spanned.value, &targets, base, env, &path, line)?;
        targets.push(target);
    }
    Ok(targets)
}

/// Names label every series, so one used twice would merge two targets' metrics.
fn validate_target(
    t: file::TargetSpec,
    earlier: &[TargetConfig],
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    path: &str,
    line: Option<u64>,
) -> Result<TargetConfig, ConfigError> {
    check_name(&t.name, &format!("{path}.name"), line)?;
    if earlier.iter().any(|o| o.name == t.name) {
        return Err(ConfigError::at(
            format!("{path}.name"),
            line,
            format!(
                "target name `{}` is used twice; names must be unique",
                t.name
            ),
        ));
    }
    let dsn = parse_dsn(&t.dsn).map_err(|m| ConfigError::at(format!("{path}.dsn"), line, m))?;
    let password_file = t.password_file.map(|p| base.join(p));
    let (password, password_source) =
        resolve_password(&dsn, password_file.as_deref(), env, path, line)?;
    let tls_ca = t.tls.ca_file.map(|p| base.join(p));
    check_tls(t.tls.mode, tls_ca.as_deref(), path, line)?;
    if t.connect_timeout.0.is_zero() || t.statement_timeout.0.is_zero() {
        return Err(ConfigError::at(
            path,
            line,
            "connect_timeout and statement_timeout must be above 0s",
        ));
    }
    Ok(TargetConfig {
        name: t.name,
        dsn,
        password,
        password_source,
        tls: TlsConfig {
            mode: t.tls.mode,
            ca_file: tls_ca,
        },
        connect_timeout: t.connect_timeout.0,
        statement_timeout: t.statement_timeout.0,
        extra_port: t.extra_port,
    })
}

/// Pools are checked in file order because a session belongs to the first pool that
/// matches: each one is judged against those before it.
fn validate_pools(
    raw: Vec<serde_saphyr::Spanned<file::PoolSpec>>,
    targets: &[TargetConfig],
) -> Result<Vec<PoolConfig>, ConfigError> {
    let mut pools: Vec<PoolConfig> = Vec::new();
    for (i, spanned) in raw.into_iter().enumerate() {
        let line = Some(spanned.referenced.line());
        let path = format!("pools[{i}]");
        let pool = validate_pool(spanned.value, &pools, targets, &path, line)?;
        pools.push(pool);
    }
    Ok(pools)
}

/// One pool against the pools before it (`earlier`) and the known targets.
fn validate_pool(
    p: file::PoolSpec,
    earlier: &[PoolConfig],
    targets: &[TargetConfig],
    path: &str,
    line: Option<u64>,
) -> Result<PoolConfig, ConfigError> {
    check_name(&p.name, &format!("{path}.name"), line)?;
    if earlier.iter().any(|o| o.name == p.name) {
        return Err(ConfigError::at(
            format!("{path}.name"),
            line,
            format!("pool name `{}` is used twice; names must be unique", p.name),
        ));
    }
    let matcher = pool_matcher(&p, earlier, path, line)?;
    check_pool_sizes(&p, path, line)?;
    if let Some(target) = &p.target {
        check_pool_target(target, targets, path, line)?;
    }
    Ok(PoolConfig {
        name: p.name,
        matcher,
        size: p.size,
        max_overflow: p.max_overflow,
        processes: p.processes,
        target: p.target,
        idle_sessions: p.idle_sessions,
    })
}

/// A pool whose sessions all go to an earlier pool would always read zero, which looks
/// healthy and hides the misconfiguration, so it is refused.
fn pool_matcher(
    p: &file::PoolSpec,
    earlier: &[PoolConfig],
    path: &str,
    line: Option<u64>,
) -> Result<Matcher, ConfigError> {
    if p.matcher.is_empty() {
        return Err(ConfigError::at(
            format!("{path}.match"),
            line,
            "an empty match would take every session; name at least one of `user`, `client_host`, `db`",
        ));
    }
    let matcher = Matcher::compile(&p.matcher)
        .map_err(|(field, m)| ConfigError::at(format!("{path}.match.{field}"), line, m))?;
    let same_target =
        |o: &PoolConfig| o.target.is_none() || p.target.is_none() || o.target == p.target;
    if let Some((j, shadow)) = earlier
        .iter()
        .enumerate()
        .find(|(_, o)| same_target(o) && o.matcher.covers(&matcher))
    {
        return Err(ConfigError::at(
            format!("{path}.match"),
            line,
            format!(
                "pool `{}` can never see a session: every session it matches belongs to pool `{}` \
                 (pools[{j}]), which comes first; a session belongs to the first pool that \
                 matches, so put the more specific pool first",
                p.name, shadow.name
            ),
        ));
    }
    Ok(matcher)
}

/// A zero size or process count would make the capacity zero and utilization undefined.
fn check_pool_sizes(p: &file::PoolSpec, path: &str, line: Option<u64>) -> Result<(), ConfigError> {
    if p.size == 0 {
        return Err(ConfigError::at(
            format!("{path}.size"),
            line,
            "size must be at least 1 (SQLAlchemy's pool_size)",
        ));
    }
    if p.processes == 0 {
        return Err(ConfigError::at(
            format!("{path}.processes"),
            line,
            "processes must be at least 1 (gunicorn workers × hosts)",
        ));
    }
    Ok(())
}

/// A pool bound to an unknown target would silently never be reported.
fn check_pool_target(
    target: &str,
    targets: &[TargetConfig],
    path: &str,
    line: Option<u64>,
) -> Result<(), ConfigError> {
    if targets.iter().any(|t| t.name == target) {
        return Ok(());
    }
    Err(ConfigError::at(
        format!("{path}.target"),
        line,
        format!(
            "no target is named `{target}`; known targets: {}",
            targets
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// The levels are ratios compared with `>=`: zero or NaN would fire always or never, and a
/// warning above the critical level would never be seen before the critical one.
fn check_thresholds(t: &file::Thresholds) -> Result<(), ConfigError> {
    for (name, warning, critical) in [
        (
            "pool_utilization",
            t.pool_utilization_warning,
            t.pool_utilization_critical,
        ),
        ("connections", t.connections_warning, t.connections_critical),
        (
            "user_connections",
            t.user_connections_warning,
            t.user_connections_critical,
        ),
    ] {
        check_levels(
            name,
            warning,
            critical,
            "a ratio above 0, e.g. 0.8 for 80 %",
        )?;
    }
    check_levels(
        "connection_churn",
        t.connection_churn_warning,
        t.connection_churn_critical,
        "connections per second above 0, e.g. 20",
    )
}

fn check_levels(name: &str, warning: f64, critical: f64, what: &str) -> Result<(), ConfigError> {
    for (level, v) in [("warning", warning), ("critical", critical)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(ConfigError::at(
                format!("thresholds.{name}_{level}"),
                None,
                format!("`{v}` must be {what}"),
            ));
        }
    }
    if warning > critical {
        return Err(ConfigError::at(
            format!("thresholds.{name}_warning"),
            None,
            format!(
                "`{warning}` is above {name}_critical (`{critical}`): a warning must come \
                 before the critical level"
            ),
        ));
    }
    Ok(())
}

/// With no room for a single label value every user and host would fold into "other".
fn check_limits(l: &file::Limits) -> Result<(), ConfigError> {
    if l.max_label_values == 0 {
        return Err(ConfigError::at(
            "limits.max_label_values",
            None,
            "must be at least 1; it caps how many users/hosts get their own label value",
        ));
    }
    let rate = l.connects_per_server_per_second;
    if !(rate.is_finite() && rate > 0.0) {
        return Err(ConfigError::at(
            "limits.connects_per_server_per_second",
            None,
            format!(
                "must be a number above 0 (got {rate}); it spreads the exporter's first \
                 connects to one server, e.g. 10"
            ),
        ));
    }
    Ok(())
}

/// `ca_file` only means something to the verifying modes, and must hold PEM CA certificates.
fn check_tls(
    mode: TlsMode,
    ca_file: Option<&Path>,
    path: &str,
    line: Option<u64>,
) -> Result<(), ConfigError> {
    let Some(ca) = ca_file else {
        return Ok(());
    };
    if !matches!(mode, TlsMode::VerifyCa | TlsMode::VerifyIdentity) {
        return Err(ConfigError::at(
            format!("{path}.tls.ca_file"),
            line,
            format!(
                "a CA is given but tls.mode is {mode}, which does not check the server's \
                 certificate; set mode: verify_ca (or verify_identity), or remove ca_file"
            ),
        ));
    }
    load_ca_file(ca)
        .map(drop)
        .map_err(|m| ConfigError::at(format!("{path}.tls.ca_file"), line, m))
}

fn check_name(name: &str, path: &str, line: Option<u64>) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::at(
            path,
            line,
            format!("`{name}` is not a valid name; use letters, digits, `-`, `_` and `.`"),
        ))
    }
}

/// Password precedence: `password_file`, then the DSN, then `MYSQL_PASSWORD`.
pub(super) fn resolve_password(
    dsn: &Dsn,
    password_file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    path: &str,
    line: Option<u64>,
) -> Result<(Option<Secret>, PasswordSource), ConfigError> {
    if let Some(file) = password_file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            ConfigError::at(
                format!("{path}.password_file"),
                line,
                format!(
                    "cannot read `{}`: {e}; the file must hold the MySQL password",
                    file.display()
                ),
            )
        })?;
        let trimmed = text.trim_end_matches(['\n', '\r']);
        return Ok((Some(Secret::new(trimmed)), PasswordSource::File));
    }
    if let Some(p) = &dsn.password {
        return Ok((Some(p.clone()), PasswordSource::Dsn));
    }
    if let Some(p) = env("MYSQL_PASSWORD") {
        return Ok((Some(Secret::new(p)), PasswordSource::Env));
    }
    Ok((None, PasswordSource::None))
}
