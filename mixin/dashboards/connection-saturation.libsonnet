// Overview: is the server running out of connections, and which pool is taking them?
local g = import '../lib/grafana.libsonnet';
local u = import '../lib/utils.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local common = (import 'common.libsonnet')(c),
    local v = common.v,
    local drilldown = $.grafanaDashboards['mysql-application-pool.json'],

    local saturation = |||
      mysql_global_status_threads_connected{%(server)s}
      / on(%(job)s, %(instance)s)
      mysql_global_variables_max_connections{%(server)s}
    ||| % v,

    'mysql-connection-saturation.json': common.dashboard(
      'mysql-pool-saturation',
      'MySQL connection saturation',
      'Is the MySQL/MariaDB server running out of connections, and which application pool is taking them? From mysql_pool_exporter.',
      [
        g.row('Server connections', 0),

        g.stat(
          'Connection saturation',
          u.fold(|||
            Client connections as a share of max_connections, per instance. Orange from %(connWarnPct)s %%
            (alert MySQLConnectionsNearLimit), red from %(connCritPct)s %% (MySQLConnectionsExhausted): new
            connections are about to be refused with 'Too many connections'. When red: look at
            'Pools at a glance' and 'Sessions by state' to see which pool holds the connections
            and whether they are idle in transaction (a leak: fix the application, or use
            `mysql_pool_exporter kill-idle` in dry-run first) or active (load or slow queries);
            raise max_connections only if the pools' total capacity really needs it.
          ||| % v),
          g.pos(0, 1, 4, 8),
          [g.target(u.expr(saturation), '{{%(instance)s}}' % v)],
          'percentunit',
          common.connectionSteps,
          decimals=1,
        ),

        g.timeseries(
          'Connections vs max_connections',
          u.fold(|||
            Threads_connected against the server limit max_connections, and the high-water mark
            Max_used_connections. When the connected line reaches the dashed limit line the server
            refuses new clients: find the pool that grows in 'Pools at a glance' and open its
            drill-down.
          |||),
          g.pos(4, 1, 10, 8),
          [
            g.target('mysql_global_status_threads_connected{%(server)s}' % v, '{{%(instance)s}} connected' % v, 'A'),
            g.target('mysql_global_variables_max_connections{%(server)s}' % v, '{{%(instance)s}} max_connections' % v, 'B'),
            g.target('mysql_global_status_max_used_connections{%(server)s}' % v, '{{%(instance)s}} max used' % v, 'C'),
          ],
          'short',
          fillOpacity=0,
          overrides=[g.limitLine('.*max_connections$', 'red'), g.limitLine('.*max used$', 'orange')],
        ),

        g.timeseries(
          'Connection saturation over time',
          u.fold(|||
            Threads_connected / max_connections. The dashed lines are the alert thresholds: %(connWarnPct)s %%
            (MySQLConnectionsNearLimit) and %(connCritPct)s %% (MySQLConnectionsExhausted). When it is in the
            red band, act as for the 'Connection saturation' stat: find the pool and the reason
            (leak, load, slow query) before raising max_connections.
          ||| % v),
          g.pos(14, 1, 10, 8),
          [g.target(u.expr(saturation), '{{%(instance)s}}' % v)],
          'percentunit',
          common.connectionSteps,
          thresholdsStyle='dashed',
          max=1,
        ),

        g.timeseries(
          'Threads running',
          u.fold(|||
            Threads_running: sessions executing a statement right now. A sustained rise together
            with rising connections means the server is slow (lock waits, slow queries) and pools
            grow to compensate: check 'Sessions past the alert thresholds' and the slow log rather
            than raising pool sizes. The dashed red line is the MySQLThreadsRunningHigh threshold
            (%(threadsRunning)s, tuned to about twice the database host's cores).
          ||| % v),
          g.pos(0, 9, 8, 8),
          [g.target('mysql_global_status_threads_running{%(server)s}' % v, '{{%(instance)s}}' % v)],
          'short',
          g.steps('green', [['red', c.threadsRunningHigh]]),
          thresholdsStyle='dashed',
        ),

        g.timeseries(
          'Aborted connects and refused connections',
          u.fold(|||
            Rate of Aborted_connects (failed handshakes: bad password, timeouts, refused) and of
            Connection_errors_max_connections (clients refused because max_connections was
            reached). Any non-zero max_connections rate (red) means applications are already
            failing to connect: treat it like a red 'Connection saturation' and free or add
            connections now.
          |||),
          g.pos(8, 9, 8, 8),
          [
            g.target('rate(mysql_global_status_aborted_connects{%(server)s}[$__rate_interval])' % v,
                     '{{%(instance)s}} aborted connects' % v,
                     'A'),
            g.target('rate(mysql_global_status_connection_errors_total{%(server)s, error="max_connections"}[$__rate_interval])' % v,
                     '{{%(instance)s}} refused (max_connections)' % v,
                     'B'),
          ],
          'cps',
          overrides=[g.fixedColor('.*max_connections.*', 'red')],
        ),

        g.timeseries(
          'Processlist threads by command',
          u.fold(|||
            Server threads from the processlist by command (Sleep, Query, ...), as
            mysqld_exporter's info_schema.processlist. Many Sleep threads with few Query threads
            while the pools are full points to connections held but unused: check 'Sessions by
            state' for idle_in_transaction.
          |||),
          g.pos(16, 9, 8, 8),
          [g.target('sum by (%(instance)s, command) (mysql_info_schema_processlist_threads{%(server)s})' % v,
                    '{{%(instance)s}} {{command}}' % v)],
          'short',
          stacking='normal',
        ),

        g.row('Sessions', 17),

        g.timeseries(
          'Sessions by state',
          u.fold(|||
            Client sessions by state: active (running a statement), lock_wait (waiting for a row
            lock), idle (Sleep, no transaction), idle_in_transaction (Sleep with an open
            transaction: the leak signature, red). A growing red band is a connection leak: code
            that used a session and never committed, rolled back or removed it (SQLAlchemy:
            db.session.remove() in background threads and teardown). Find the pool in the
            drill-down dashboard.
          |||),
          g.pos(0, 18, 8, 8),
          [g.target('sum by (state) (mysql_sessions{%(server)s})' % v, '{{state}}')],
          'short',
          stacking='normal',
          overrides=g.stateColors,
        ),

        g.heatmap(
          'Session age distribution',
          u.fold(|||
            How long the current sessions have been in their state (query age for
            active/lock_wait, idle time for idle, transaction age for idle_in_transaction), from
            mysql_session_age_seconds (a snapshot of current sessions, so no rate()). Cells high
            up the axis (10 min and more) that persist across the time range are sessions nobody
            returns to the pool: see 'Oldest open transaction' and the drill-down dashboard.
          |||),
          g.pos(8, 18, 8, 8),
          'sum by (le) (mysql_session_age_seconds_bucket{%(server)s})' % v,
        ),

        g.timeseries(
          'Oldest open transaction',
          u.fold(|||
            Age of each MySQL user's oldest open InnoDB transaction. Red from %(idleSeconds)s s, the
            MySQLIdleInTransaction threshold: a transaction that old in a web application is
            almost always a leaked session that also holds row locks and blocks purge. When red:
            find the pool in the drill-down dashboard, then the session (mysql_pool_exporter check
            lists the worst sessions); kill it only after a dry run of mysql_pool_exporter
            kill-idle.
          ||| % v),
          g.pos(16, 18, 8, 8),
          [g.target('max by (%(instance)s, mysql_user) (mysql_oldest_transaction_seconds{%(server)s})' % v,
                    '{{%(instance)s}} {{mysql_user}}' % v)],
          's',
          common.idleAgeSteps,
          thresholdsStyle='dashed',
        ),

        g.timeseries(
          'Sessions past the alert thresholds',
          u.fold(|||
            Sessions idle in transaction for more than %(idleSeconds)s s (MySQLIdleInTransaction) and
            sessions running or waiting on a lock for more than %(longSeconds)s s (MySQLLongRunningQuery),
            counted from the session-age buckets. Red as soon as one exists. Idle in transaction:
            a leak, see 'Oldest open transaction'. Long running: find the statement in the
            processlist, check for lock waits, and fix or kill the query.
          ||| % v),
          g.pos(0, 26, 12, 8),
          [
            g.target(u.expr(|||
              sum by (%(instance)s) (mysql_session_age_seconds_count{%(server)s, state="idle_in_transaction"})
              - sum by (%(instance)s) (mysql_session_age_seconds_bucket{%(server)s, state="idle_in_transaction", le="%(idleSeconds)s"})
              or sum by (%(instance)s) (0 * mysql_up{%(server)s})
            ||| % v), '{{%(instance)s}} idle in transaction > %(idleSeconds)s s' % v, 'A'),
            g.target(u.expr(|||
              sum by (%(instance)s) (mysql_session_age_seconds_count{%(server)s, state=~"active|lock_wait"})
              - sum by (%(instance)s) (mysql_session_age_seconds_bucket{%(server)s, state=~"active|lock_wait", le="%(longSeconds)s"})
              or sum by (%(instance)s) (0 * mysql_up{%(server)s})
            ||| % v), '{{%(instance)s}} running > %(longSeconds)s s' % v, 'B'),
          ],
          'short',
          common.anySessionSteps,
          thresholdsStyle='line',
        ),

        g.timeseries(
          'Sessions by MySQL user',
          u.fold(|||
            Client sessions per MySQL account, split by state. The user whose idle_in_transaction
            or total count grows is the application to look at; compare with its pool capacity in
            the drill-down dashboard, and with max_user_connections if it is set.
          |||),
          g.pos(12, 26, 12, 8),
          [g.target('sum by (mysql_user, state) (mysql_sessions{%(server)s})' % v, '{{mysql_user}} {{state}}')],
          'short',
          stacking='normal',
        ),

        g.row('Application pools', 34),

        g.panel(
          'bargauge',
          'Pools at a glance',
          u.fold(|||
            Each configured application pool's sessions / capacity ((pool_size + max_overflow) ×
            processes). Orange from %(poolWarnPct)s %% (MySQLPoolNearExhaustion), red at %(poolCritPct)s %%
            (MySQLPoolExhausted): the application is getting 'QueuePool limit ... reached'
            timeouts. Click a bar to open that pool's drill-down and see whether the sessions are
            busy (load, slow queries) or idle in transaction (a leak).
          ||| % v),
          g.pos(0, 35, 12, 8),
          [g.target('max by (%(pool)s) (mysql_pool_utilization_ratio{%(pooled)s})' % v, '{{%(pool)s}}' % v, instant=true)],
        ) {
          fieldConfig: {
            defaults: {
              color: { mode: 'thresholds' },
              unit: 'percentunit',
              thresholds: common.poolSteps,
              min: 0,
              max: 1,
              mappings: [],
              links: [{
                title: 'Open the ${__field.labels.%(pool)s} pool drill-down' % v,
                url: '/d/%s/mysql-application-pool?var-pool=${__field.labels.%s}&${job:queryparam}&${instance:queryparam}&${datasource:queryparam}&${__url_time_range}'
                     % [drilldown.uid, c.poolLabel],
              }],
            },
            overrides: [],
          },
          options: {
            displayMode: 'gradient',
            orientation: 'horizontal',
            showUnfilled: true,
            valueMode: 'color',
            namePlacement: 'auto',
            sizing: 'auto',
            minVizHeight: 16,
            minVizWidth: 8,
            maxVizHeight: 300,
            reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
          },
        },

        g.timeseries(
          'Pool utilisation over time',
          u.fold(|||
            Per pool sessions / capacity over time, with the alert thresholds %(poolWarnPct)s %% and %(poolCritPct)s %% as
            dashed lines. A step that never comes down is a leak; a curve that follows traffic is
            load (add capacity, within max_connections); a spike is a slow query or lock pile-up.
            When red, open the pool's drill-down.
          ||| % v),
          g.pos(12, 35, 8, 8),
          [g.target('max by (%(instance)s, %(pool)s) (mysql_pool_utilization_ratio{%(pooled)s})' % v,
                    '{{%(instance)s}} {{%(pool)s}}' % v)],
          'percentunit',
          common.poolSteps,
          thresholdsStyle='dashed',
          max=1,
        ),

        g.stat(
          'Pool overcommit',
          u.fold(|||
            Sum of all configured pools' capacity / max_connections. Above %(overcommitPct)s %% (red,
            MySQLPoolOvercommitted) the pools together may open more connections than the server
            accepts, so one busy application can starve the others: lower pool_size/max_overflow
            or the number of processes, or raise max_connections.
          ||| % v),
          g.pos(20, 35, 4, 8),
          [g.target('max by (%(instance)s) (mysql_pool_overcommit_ratio{%(server)s})' % v, '{{%(instance)s}}' % v)],
          'percentunit',
          common.overcommitSteps,
          decimals=0,
        ),

        g.row('Exporter health', 43),

        g.stat(
          'MySQL reachable',
          u.fold(|||
            mysql_up: 1 when the exporter's persistent connection answered this scrape. Red (DOWN,
            alert MySQLDown) means the server is unreachable or refuses the exporter: check the
            server, the network and the exporter's log. The exporter keeps its connection open,
            so it stays UP when the server is full of application connections.
          |||),
          g.pos(0, 44, 4, 6),
          [g.target('min by (%(instance)s) (mysql_up{%(server)s})' % v, '{{%(instance)s}}' % v)],
          'short',
          g.steps('red', [['green', 1]]),
          mappings=[{
            type: 'value',
            options: {
              '0': { text: 'DOWN', color: 'red', index: 0 },
              '1': { text: 'UP', color: 'green', index: 1 },
            },
          }],
          graphMode='none',
        ),

        g.panel(
          'state-timeline',
          'Collector success',
          u.fold(|||
            mysql_exporter_collector_success per collector: green when its query succeeded this
            scrape, red when it failed (its series are then missing, never stale). When red: the
            exporter log names the failing query; usually a missing privilege (PROCESS, SELECT on
            performance_schema) or a statement timeout on an overloaded server (alert
            MySQLExporterScrapeFailing).
          |||),
          g.pos(4, 44, 10, 6),
          [g.target('min by (%(instance)s, collector) (mysql_exporter_collector_success{%(server)s})' % v,
                    '{{%(instance)s}} {{collector}}' % v)],
        ) {
          fieldConfig: {
            defaults: {
              color: { mode: 'thresholds' },
              unit: 'short',
              thresholds: g.steps('red', [['green', 1]]),
              mappings: [{
                type: 'value',
                options: {
                  '0': { text: 'failed', color: 'red', index: 0 },
                  '1': { text: 'ok', color: 'green', index: 1 },
                },
              }],
              custom: {
                fillOpacity: 80,
                lineWidth: 0,
                hideFrom: { legend: false, tooltip: false, viz: false },
              },
            },
            overrides: [],
          },
          options: {
            mergeValues: true,
            showValue: 'never',
            alignValue: 'left',
            rowHeight: 0.9,
            legend: { displayMode: 'list', placement: 'bottom', showLegend: false },
            tooltip: { mode: 'single', sort: 'none' },
          },
        },

        g.timeseries(
          'Exporter collection time',
          u.fold(|||
            Time the exporter spends per collector and the 90th percentile of whole collections.
            Rising collection time on a busy server is expected (the processlist grows); when it
            nears the Prometheus scrape timeout, scrapes fail: raise the timeout or look for what
            slows the server.
          |||),
          g.pos(14, 44, 10, 6),
          [
            g.target('max by (%(instance)s, collector) (mysql_exporter_collector_duration_seconds{%(server)s})' % v,
                     '{{%(instance)s}} {{collector}}' % v,
                     'A'),
            g.target('histogram_quantile(0.9, sum by (%(instance)s, le) (rate(mysql_exporter_scrape_duration_seconds_bucket{%(server)s}[$__rate_interval])))' % v,
                     '{{%(instance)s}} p90 collection' % v,
                     'B'),
          ],
          's',
        ),

        g.row('Alerts', 50),

        common.firingAlerts(51),
      ],
    ),
  },
}
