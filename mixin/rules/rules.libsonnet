// Recording rules. They follow `level:metric:operations`, where the level `mysql` means
// "per MySQL server" (labels job, instance) and `mysql_pool` means "per application pool"
// (labels job, instance, pool). Metric names and labels: docs/metrics.md.
//
// The hidden `comment::` of a rule is written above it in the generated
// alerting-rules/mysql_pool_exporter.rules.yml; it is not part of the rule.
local u = import '../lib/utils.libsonnet';

{
  prometheusRules+:: {
    local c = $._config,
    local server = '%(jobLabel)s, %(instanceLabel)s, %(targetLabel)s' % c,
    // _config.exporterSelector on every raw series the rules read (see alerts.libsonnet).
    local sel = if c.exporterSelector == '' then '' else '{%s}' % c.exporterSelector,
    local selc = if c.exporterSelector == '' then '' else ',%s' % c.exporterSelector,
    assert std.member(c.sessionAgeBuckets, c.idleInTransactionSeconds) :
           'idleInTransactionSeconds (%s) must be one of sessionAgeBuckets %s' % [c.idleInTransactionSeconds, c.sessionAgeBuckets],
    assert std.member(c.sessionAgeBuckets, c.longQuerySeconds) :
           'longQuerySeconds (%s) must be one of sessionAgeBuckets %s' % [c.longQuerySeconds, c.sessionAgeBuckets],
    // The application's own count of its pool's connections in one state, per pool: what
    // OpenTelemetry's SQLAlchemy instrumentation exports (docs/app-view.md), under either
    // name the unit suffix gives it, its `pool_name` copied to `pool`.
    local appConnections(state) = {
      record: 'mysql_pool:app_%s_connections' % state,
      expr: u.expr(|||
        sum by (%(pool)s) (
          label_replace(
            db_client_connections_usage_connections{state="%(state)s"}
            or db_client_connections_usage{state="%(state)s"},
            "%(pool)s", "$1", "pool_name", "(.+)"
          )
        )
      ||| % { pool: c.poolLabel, state: state }),
    },
    // The session-age cuts the alerts need, in seconds (one rule each, even when equal).
    local ageCuts = std.uniq(std.sort([c.idleInTransactionSeconds, c.longQuerySeconds])),
    local olderThan(prefix, level, seconds) = {
      record: '%s:sessions:older_than_%ds' % [level, seconds],
      expr: u.expr(|||
        %(prefix)s_session_age_seconds_count%(sel)s
        - ignoring (le)
        %(prefix)s_session_age_seconds_bucket{le="%(le)s"%(selc)s}
      ||| % { prefix: prefix, le: u.num(seconds), sel: sel, selc: selc }),
    },

    groups+: [
      {
        name: 'mysql_pool_exporter.rules',
        rules: [
                 {
                   comment:: |||
                     Share of max_connections in use. threads_connected and max_connections carry only
                     %(jobLabel)s/%(instanceLabel)s; `on` keeps exactly those labels.
                   ||| % c,
                   record: 'mysql:connections:saturation_ratio',
                   expr: u.expr(|||
                     mysql_global_status_threads_connected%(sel)s
                     / on (%(server)s)
                     (mysql_global_variables_max_connections%(sel)s > 0)
                   ||| % { server: server, sel: sel }),
                 },
                 {
                   comment:: 'Pool utilisation smoothed over 5 minutes (dashboards; 1 = every connection in use).',
                   record: 'mysql_pool:utilization_ratio:max5m',
                   expr: 'max_over_time(mysql_pool_utilization_ratio%s[5m])' % sel,
                 },
                 {
                   record: 'mysql_pool:utilization_ratio:avg5m',
                   expr: 'avg_over_time(mysql_pool_utilization_ratio%s[5m])' % sel,
                 },
               ] + [
                 olderThan('mysql', 'mysql', ageCuts[0]) {
                   comment:: |||
                     Sessions that have been in their state for longer than %(cuts)s, per state
                     (active, lock_wait, idle, idle_in_transaction). Bucket `le` boundaries are
                     %(buckets)s, +Inf (docs/metrics.md), so
                     count - bucket{le="%(first)s"} is exactly "older than %(first)s s".
                   ||| % {
                     cuts: std.join(' / ', ['%s s' % u.num(s) for s in ageCuts]),
                     buckets: std.join(', ', [u.num(b) for b in c.sessionAgeBuckets]),
                     first: u.num(ageCuts[0]),
                   },
                 },
               ] + [olderThan('mysql', 'mysql', s) for s in ageCuts[1:]]
               + [olderThan('mysql_pool', 'mysql_pool', s) for s in ageCuts]
               + [
                 {
                   comment:: 'Statements executing at once, averaged over 5 minutes.',
                   record: 'mysql:threads_running:avg5m',
                   expr: 'avg_over_time(mysql_global_status_threads_running%s[5m])' % sel,
                 },
                 appConnections('used') {
                   comment:: |||
                     The application's view of its pool, from its OpenTelemetry metrics (not from
                     this exporter): connections checked out of the pool (used) and parked in it
                     (idle), summed over the app's processes per pool name; no job or instance
                     label, as those name the app, not a MySQL server. The app names its pool
                     with SQLAlchemy's pool_logging_name, which must equal the exporter's pool name:
                     mysql_pool:app_used_connections - on (%(pool)s) group_left sum by (%(pool)s) (mysql_pool_held_sessions)
                     is then 0 while the two agree.
                   ||| % { pool: c.poolLabel },
                 },
                 appConnections('idle'),
               ],
      },
    ],
  },
}
