// What both dashboards share: label filters, thresholds from _config, the template
// variables, and the firing-alerts table. A function of _config.
local g = import '../lib/grafana.libsonnet';
local u = import '../lib/utils.libsonnet';

function(c) {
  // For `%` formatting of queries, legends and texts.
  v:: {
    job: c.jobLabel,
    instance: c.instanceLabel,
    pool: c.poolLabel,
    // The label filters of every selector: the template variables.
    server: '%(jobLabel)s=~"$job", %(instanceLabel)s=~"$instance"' % c,
    pooled: '%(jobLabel)s=~"$job", %(instanceLabel)s=~"$instance", %(poolLabel)s=~"$pool"' % c,
    // Thresholds as the texts write them ("80 %", "30 s").
    connWarnPct: u.pct(c.connectionsWarning),
    connCritPct: u.pct(c.connectionsCritical),
    poolWarnPct: u.pct(c.poolNearExhaustionThreshold),
    poolCritPct: u.pct(c.poolExhaustedThreshold),
    overcommitPct: u.pct(c.poolOvercommitThreshold),
    threadsRunning: u.num(c.threadsRunningHigh),
    idleSeconds: u.num(c.idleInTransactionSeconds),
    lockSeconds: u.num(c.lockWaitSeconds),
    longSeconds: u.num(c.longQuerySeconds),
  },

  // Threshold steps matching the alerts (scripts/lint_dashboards.py checks them).
  connectionSteps:: g.steps('green', [['orange', c.connectionsWarning], ['red', c.connectionsCritical]]),
  poolSteps:: g.steps('green', [['orange', c.poolNearExhaustionThreshold], ['red', c.poolExhaustedThreshold]]),
  overcommitSteps:: g.steps('green', [['red', c.poolOvercommitThreshold]]),
  idleAgeSteps:: g.steps('green', [['red', c.idleInTransactionSeconds]]),
  anySessionSteps:: g.steps('green', [['red', 1]]),

  variables:: [
    g.datasourceVariable,
    g.queryVariable('job', 'Job', 'label_values(mysql_up, %(jobLabel)s)' % c, multi=false),
    g.queryVariable('instance', 'Instance', 'label_values(mysql_up{%(jobLabel)s=~"$job"}, %(instanceLabel)s)' % c, multi=true),
    g.queryVariable('pool', 'Pool', 'label_values(mysql_pool_capacity{%(jobLabel)s=~"$job", %(instanceLabel)s=~"$instance"}, %(poolLabel)s)' % c, multi=true),
  ],

  dashboard(uid, title, description, panels)::
    g.dashboard(uid,
                title,
                description,
                panels,
                self.variables,
                c.dashboardTags,
                c.dashboardRefresh,
                c.dashboardPeriod,
                c.dashboardTimezone),

  // The alerts of these rules firing now. ALERTS may be empty: its refId says so
  // (scripts/dashboard_queries.py). Alerts without job, instance or pool are shown too.
  firingAlerts(y)::
    g.panel(
      'table',
      'Firing alerts',
      u.fold(|||
        Alerts of this exporter's rules that are firing now for the selected instances and
        pools (alerts without a job, instance or pool label are shown too). Empty is good.
        When a row is here, open the runbook linked in the alert's annotations
        (docs/runbooks/, named after the alert) and follow it; the pool and instance columns
        say where to look on this dashboard.
      |||),
      g.pos(0, y, 24, 8),
      [g.target('ALERTS{alertstate="firing", %(job)s=~"$job|", %(instance)s=~"$instance|", %(pool)s=~"$pool|"}' % self.v,
                '',
                refId='ALERTS',
                instant=true,
                format='table')],
    ) {
      fieldConfig: {
        defaults: {
          unit: 'short',
          color: { mode: 'thresholds' },
          thresholds: g.steps('green'),
          mappings: [],
          custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: false, filterable: true },
        },
        overrides: [{
          matcher: { id: 'byName', options: 'Severity' },
          properties: [
            {
              id: 'mappings',
              value: [{
                type: 'value',
                options: { critical: { color: 'red', index: 0 }, warning: { color: 'orange', index: 1 } },
              }],
            },
            { id: 'custom.cellOptions', value: { type: 'color-background' } },
          ],
        }],
      },
      options: {
        showHeader: true,
        cellHeight: 'sm',
        footer: { show: false, reducer: ['sum'], countRows: false, fields: '' },
      },
      transformations: [{
        id: 'organize',
        options: {
          excludeByName: { Time: true, Value: true, __name__: true, alertstate: true },
          indexByName: { alertname: 0, severity: 1, [c.instanceLabel]: 2, [c.poolLabel]: 3 },
          renameByName: { alertname: 'Alert', severity: 'Severity', [c.instanceLabel]: 'Instance', [c.poolLabel]: 'Pool' },
        },
      }],
    },
}
