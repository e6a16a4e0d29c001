// Everything a user of the mixin may want to change. Override it in your own jsonnet:
//
//   (import 'mysql_pool_exporter/mixin.libsonnet') + { _config+:: { poolNearExhaustionThreshold: 0.7 } }
//
// Every threshold and `for:` duration of the alerts lives here, and the expressions, the
// alert texts ("above 80% for 5 minutes"), the recording-rule names and the dashboard
// thresholds are all built from these values, so an override changes them together.
// The defaults that the exporter's `check` command shares with the alerts come from one file,
// thresholds.json beside this one: the exporter reads the same file when it is built, so
// the two cannot disagree. mixin/thresholds.jsonnet exports them after your overrides.
local thresholds = import 'thresholds.json';
{
  _config+:: {
    // ------------------------------------------------------------ selectors and labels
    // Selects the exporter's own `up` series (alert MySQLExporterScrapeFailing): adapt it
    // if your scrape job for the exporter has another name. The other alerts use the
    // exporter's metric names only.
    mysqlSelector: 'job=~".*mysql.*"',
    // Label matchers put on every series the rules and alerts read from the exporter, e.g.
    // 'job="mysql-pool-exporter"'. Set it when another exporter (mysqld_exporter during a
    // migration) is scraped into the same Prometheus: its mysql_up and
    // mysql_global_status_* series have the same names, and mysqld_exporter reports
    // mysql_up 0 when the server is merely full. Empty: every series of those names.
    exporterSelector: '',
    // The labels Prometheus attaches to every series of a target, and the exporter's
    // pool label. With `/probe?target=NAME` the scrape config sets `instance` to the target
    // name. Alerts join and group on (jobLabel, instanceLabel); the dashboards filter on them.
    jobLabel: 'job',
    instanceLabel: 'instance',
    poolLabel: 'pool',
    // The label a multi-target /metrics adds (one exporter, several servers): joins and
    // groupings keep it, so two servers behind one exporter never meet in one series. Where
    // it is absent it is empty on both sides of a join, which changes nothing.
    targetLabel: 'target',

    // ------------------------------------------------------------ server connections
    // mysql:connections:saturation_ratio (threads_connected / max_connections)
    connectionsWarning: thresholds.connections_warning,  // MySQLConnectionsNearLimit: above this
    connectionsNearLimitFor: '5m',
    connectionsCritical: thresholds.connections_critical,  // MySQLConnectionsExhausted: at or above this ...
    // ... or connections refused for max_connections in every minute of this window: one
    // refusal (a burst of logins) is no page, refusals that go on are.
    connectionsRefusedWindow: '5m',
    connectionsExhaustedFor: '1m',
    connectionChurnWarning: thresholds.connection_churn_warning,  // MySQLConnectionChurn: connections one account opens per second (5m rate)
    connectionChurnFor: '10m',
    userConnectionsWarning: thresholds.user_connections_warning,  // MySQLUserConnectionsNearLimit: one user's share of max_user_connections
    userConnectionsNearLimitFor: '5m',
    abortedConnectsRatio: 0.1,  // MySQLAbortedConnectionsHigh: share of connection attempts aborted
    abortedConnectsPerSecond: 0.1,  // ... and at least this many per second
    abortedConnectsWindow: '5m',
    abortedConnectionsFor: '10m',
    threadsRunningHigh: 40,  // MySQLThreadsRunningHigh: 5-minute mean of threads_running; about twice the cores
    threadsRunningHighFor: '5m',
    mysqlDownFor: '1m',  // MySQLDown: mysql_up == 0

    // ------------------------------------------------------------ application pools
    poolNearExhaustionThreshold: thresholds.pool_utilization_warning,  // MySQLPoolNearExhaustion: mysql_pool_utilization_ratio above this
    poolNearExhaustionFor: '5m',
    poolExhaustedThreshold: thresholds.pool_utilization_critical,  // MySQLPoolExhausted: at or above this
    poolExhaustedFor: '1m',
    poolOvercommitThreshold: 1,  // MySQLPoolOvercommitted: sum of pool capacities / max_connections above this
    poolOvercommittedFor: '15m',
    // MySQLPoolFullBetweenScrapes: the sampler saw the pool at capacity for at least this
    // long (seconds) within its window; a second at capacity is a blip, not an alert.
    poolFullMinSeconds: 3,
    poolFullBetweenScrapesFor: '30s',
    // MySQLPoolProcessExhausted: one client process holds all of its own pool (size +
    // max_overflow) though the pool as a whole may look fine (gunicorn -w 4: 25 %).
    poolProcessExhaustedFor: '1m',
    // MySQLPoolLeakPredicted: at the growth of the last leakPredictWindow, the pool's
    // sessions idle in a transaction past idleInTransactionSeconds reach its capacity within
    // leakPredictHorizon: a slow leak pages before the app times out.
    leakPredictWindow: '30m',
    leakPredictHorizon: '1h',
    leakPredictedFor: '15m',

    // ------------------------------------------------------------ sessions
    // Upper bounds (`le`) of mysql_session_age_seconds and mysql_pool_session_age_seconds
    // (docs/metrics.md; +Inf besides). The recording rules mysql{,_pool}:sessions:older_than_<N>s
    // compute `_count - _bucket{le="N"}`, which is exact only at a bucket boundary, so both
    // session-age thresholds below must be one of these.
    sessionAgeBuckets: [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    idleInTransactionSeconds: thresholds.idle_in_transaction_seconds,  // MySQLIdleInTransaction: idle inside an open transaction for longer
    idleInTransactionFor: '1m',
    longQuerySeconds: thresholds.long_query_seconds,  // MySQLLongRunningQuery: statement running, or waiting for a row lock, for longer
    longRunningQueryFor: '2m',
    // Users whose long statements are expected (backups, reports): a regex on mysql_user,
    // e.g. 'backup|report'; empty: none excluded. MySQLLongRunningQuery then reads the
    // per-user mysql_oldest_statement_seconds.
    longQueryExcludedUsers: '',
    // MySQLLockWaitChain: a root blocker's waiters have waited longer than this. Well below
    // InnoDB's innodb_lock_wait_timeout (50 s), after which they give up: with the `for`
    // and a 15 s scrape interval it fires about 30 s after the chain forms.
    lockWaitSeconds: thresholds.lock_wait_seconds,
    lockWaitChainFor: '30s',

    // ------------------------------------------------------------ exporter
    exporterScrapeFailingFor: '5m',  // MySQLExporterScrapeFailing
    collectorSkippedFor: '5m',  // MySQLExporterCollectorSkipped
    // The collectors the pool and leak alerts are built on: skipped (a revoked PROCESS
    // grant), they go quiet, so MySQLExporterCollectorSkipped says why.
    alertCollectors: ['sessions', 'pools', 'locks', 'processlist'],
    // The rules' evaluation interval this mixin is written for (Prometheus'
    // evaluation_interval; 15s is the usual setting): every alert's `for:` is at least two of
    // these (checked when rendering), so one sample never fires an alert. With a longer
    // evaluation_interval raise the `for:`s below with it.
    ruleInterval: '15s',

    // ------------------------------------------------------------ links and dashboards
    // runbook_url = runbookURLBase + <alertname> + '.md'
    runbookURLBase: 'https://github.com/mysql-pool-exporter/mysql_pool_exporter/blob/main/docs/runbooks/',
    // dashboard_url: the pool drill-down (an alert with a pool label) or the saturation
    // overview, at this Grafana, with the alert's job, instance and pool filled in.
    grafanaURL: 'http://localhost:3000',
    // status_page_url: the exporter's status page, with the session ids. The default fits
    // the usual scrape of /metrics, where `instance` is the exporter's host:port; with
    // /probe?target=NAME set it to the exporter's address, e.g. 'http://exporter:9207/'.
    statusPageURL: 'http://{{ $labels.%s }}/' % self.instanceLabel,
    // Name of the single group scripts/generate_mixin.sh writes (see lib/rules_file.libsonnet).
    ruleGroupName: 'mysql_pool_exporter',
    dashboardTags: ['mysql', 'mysql_pool_exporter'],
    dashboardRefresh: '30s',
    dashboardPeriod: 'now-1h',
    dashboardTimezone: '',
  },
}
