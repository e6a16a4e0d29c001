// What both dashboards share: label filters and groupings, thresholds from _config, the
// template variables, the links (drill-down, the exporter's status page, runbooks) and the
// firing-alerts table. A function of _config and of the mixin's alerts (their names filter
// the table, so it shows this mixin's alerts and no other's).
local g = import '../lib/grafana.libsonnet';
local u = import '../lib/utils.libsonnet';

function(c, alerts) {
  // Dashboard-only settings, read with defaults so that config.libsonnet (the alerts') needs
  // no entry: override them in _config like any other.
  //   targetLabel: the label a multi-target /metrics puts on every series (docs/metrics.md).
  //   statusPageScheme: http or https (an exporter with --web.config.file TLS).
  local targetLabel = std.get(c, 'targetLabel', 'target'),
  local statusPageScheme = std.get(c, 'statusPageScheme', 'http'),

  // For `%` formatting of queries, legends and texts.
  v:: {
    job: c.jobLabel,
    instance: c.instanceLabel,
    pool: c.poolLabel,
    target: targetLabel,
    // The label filters of every selector: the template variables.
    server: '%(jobLabel)s=~"$job", %(instanceLabel)s=~"$instance"' % c,
    pooled: '%(jobLabel)s=~"$job", %(instanceLabel)s=~"$instance", %(poolLabel)s=~"$pool"' % c,
    // What every aggregation keeps and every join matches on: one MySQL server is
    // (job, instance), or (job, instance, target) when one /metrics serves several targets.
    // A label a series lacks groups as empty, so the same lists fit both kinds of scrape.
    srv: '%s, %s, %s' % [c.jobLabel, c.instanceLabel, targetLabel],
    srvPool: '%s, %s, %s, %s' % [c.jobLabel, c.instanceLabel, targetLabel, c.poolLabel],
    // Legends name the server the same way (an absent target prints nothing).
    at: '{{%s}} {{%s}}' % [c.instanceLabel, targetLabel],
    atPool: '{{%s}} {{%s}} {{%s}}' % [c.instanceLabel, targetLabel, c.poolLabel],
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
    churn: u.num(c.connectionChurnWarning),
  },
  local v = self.v,

  // Threshold steps matching the alerts (scripts/lint_dashboards.py checks them).
  connectionSteps:: g.steps('green', [['orange', c.connectionsWarning], ['red', c.connectionsCritical]]),
  poolSteps:: g.steps('green', [['orange', c.poolNearExhaustionThreshold], ['red', c.poolExhaustedThreshold]]),
  overcommitSteps:: g.steps('green', [['red', c.poolOvercommitThreshold]]),
  idleAgeSteps:: g.steps('green', [['red', c.idleInTransactionSeconds]]),
  lockWaitSteps:: g.steps('green', [['red', c.lockWaitSeconds]]),
  churnSteps:: g.steps('green', [['orange', c.connectionChurnWarning]]),
  anySessionSteps:: g.steps('green', [['red', 1]]),

  // The job variable lists the jobs that scrape THIS exporter: mysqld_exporter has mysql_up
  // too (and mysql_exporter_collector_success, but not for these collector names), so a
  // mysqld_exporter job must not be offered, nor matched by "All".
  local ourCollectors = 'sessions|pools|processlist|locks|sampler',
  variables:: [
    g.datasourceVariable,
    g.queryVariable(
      'job',
      'Job',
      'label_values({__name__=~"mysql_exporter_collector_(success|skipped)", collector=~"%s"}, %s)' % [ourCollectors, c.jobLabel],
      multi=false,
      allValue=null,
    ),
    g.queryVariable('instance', 'Instance', 'label_values(mysql_up{%(jobLabel)s=~"$job"}, %(instanceLabel)s)' % c, multi=true),
    g.queryVariable('pool', 'Pool', 'label_values(mysql_pool_capacity{%(jobLabel)s=~"$job", %(instanceLabel)s=~"$instance"}, %(poolLabel)s)' % c, multi=true),
    // Where the browser reaches the exporter, for the links to its status page (`/`: the
    // pools, the leaked sessions with their ids, what the sampler saw between scrapes).
    // Defaults to the first instance: the exporter's host:port when Prometheus scrapes it
    // under its own address. Where the scrape config renames `instance` (the demo, /probe),
    // type the exporter's host:port into the picker. docs/dashboards.md.
    g.queryVariable(
      'exporter',
      'Exporter (status page)',
      'label_values(mysql_up{%(jobLabel)s=~"$job", %(instanceLabel)s=~"$instance"}, %(instanceLabel)s)' % c,
      multi=false,
      includeAll=false,
      description="host:port of mysql_pool_exporter as your browser reaches it, for the links to its status page. Defaults to the instance label; type the exporter's address when your scrape config renames instance (docs/dashboards.md).",
    ),
  ],

  // The exporter's status page: the dashboard link and the panels' data links.
  statusPageURL:: '%s://${exporter}/' % statusPageScheme,
  statusPageLink:: {
    title: 'Exporter status page (session ids): ${exporter}',
    url: $.statusPageURL,
    targetBlank: true,
  },

  // A data link to the pool drill-down for the clicked series: ITS instance and pool, not
  // the dashboard's selection (which may be All).
  drilldownLink(uid):: {
    title: 'Drill down: ${__field.labels.%s} on ${__field.labels.%s}' % [c.poolLabel, c.instanceLabel],
    url: '/d/%s/mysql-application-pool?var-instance=${__field.labels.%s}&var-pool=${__field.labels.%s}&${job:queryparam}&${datasource:queryparam}&var-exporter=${exporter}&${__url_time_range}'
         % [uid, c.instanceLabel, c.poolLabel],
  },

  dashboard(uid, title, description, panels)::
    g.dashboard(uid,
                title,
                description,
                panels,
                self.variables,
                c.dashboardTags,
                c.dashboardRefresh,
                c.dashboardPeriod,
                c.dashboardTimezone,
                extraLinks=[{
                  title: 'Exporter status page',
                  type: 'link',
                  url: $.statusPageURL,
                  icon: 'info',
                  tooltip: "mysql_pool_exporter's own page: each pool, the oldest leaked sessions with their ids, what the sampler saw between scrapes (the Exporter variable says where it is)",
                  asDropdown: false,
                  includeVars: false,
                  keepTime: false,
                  targetBlank: true,
                  tags: [],
                }]),

  // The names of the mixin's alerts, as one regex alternative.
  alertNames:: std.join('|', std.sort([r.alert for grp in alerts.groups for r in grp.rules if std.objectHas(r, 'alert')])),

  // The alerts of this mixin firing now. ALERTS may be empty: its refId says so
  // (scripts/dashboard_queries.py). Alerts without job, instance or pool are shown too.
  firingAlerts(gridPos)::
    g.panel(
      'table',
      'Firing alerts',
      u.fold(|||
        This mixin's alerts that are firing now for the selected instances and pools (alerts
        without a job, instance or pool label are shown too; other rules' alerts are not).
        Empty is good. Click an alert's name for its runbook (docs/runbooks/) and follow it;
        the instance and pool columns say where to look on the dashboards.
      |||),
      gridPos,
      [g.target('ALERTS{alertstate="firing", alertname=~"%s", %s=~"$job|", %s=~"$instance|", %s=~"$pool|"}'
                % [$.alertNames, v.job, v.instance, v.pool],
                '',
                refId='ALERTS',
                instant=true,
                format='table')],
    ) + g.noValue('No alert of this mixin is firing for the selected instances and pools') {
      fieldConfig+: {
        defaults+: {
          unit: 'short',
          color: { mode: 'thresholds' },
          thresholds: g.steps('green'),
          mappings: [],
          custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: false, filterable: true },
        },
        overrides: [
          {
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
          },
          {
            // ALERTS carries no annotations, so the runbook URL is rebuilt as the alerts
            // build it: runbookURLBase + alertname + '.md'.
            matcher: { id: 'byName', options: 'Alert' },
            properties: [{
              id: 'links',
              value: [{ title: 'Runbook: ${__value.raw}', url: c.runbookURLBase + '${__value.raw}.md', targetBlank: true }],
            }],
          },
        ],
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
          indexByName: { alertname: 0, severity: 1, [c.instanceLabel]: 2, [targetLabel]: 3, [c.poolLabel]: 4 },
          renameByName: { alertname: 'Alert', severity: 'Severity', [c.instanceLabel]: 'Instance', [targetLabel]: 'Target', [c.poolLabel]: 'Pool' },
        },
      }],
    },
}
