// Overview: which application pool is out of connections, and why; then the server's
// max_connections, the sessions, the exporter's health.
//
// The order is the on-call's: a pool fills inside the application long before the server
// reaches max_connections (the incident: a QueuePool of 15 + 30 full of sessions idle in a
// transaction, the server at 47 %), so the pools and this mixin's firing alerts come first,
// the server's limits below.
//
// Rules every panel keeps (scripts/lint_dashboards.py checks them):
//   - aggregations keep job, instance and target (v.srv, v.srvPool) and legends name the
//     instance, except inside a repeat per instance, where the title names it;
//   - a stack (or a heatmap) only ever mixes the series of ONE instance: such panels sit in
//     rows repeated per instance (and per pool), never across servers;
//   - gauges that can spike between two points of a long range are read through
//     max_over_time(...[$__interval]) or the sampler's *_max series;
//   - every panel says in noValue why it may be empty and how to fill it.
local g = import '../lib/grafana.libsonnet';
local u = import '../lib/utils.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local common = (import 'common.libsonnet')(c, $.prometheusAlerts),
    local v = common.v,
    local drilldown = common.drilldownLink($.grafanaDashboards['mysql-application-pool.json'].uid),
    local statusPage = common.statusPageLink,

    // Threads_connected / max_connections, per server. The peak within each step, so that a
    // burst stays visible at a 24 h range.
    local saturation = |||
      max_over_time(mysql_global_status_threads_connected{%(server)s}[$__interval])
      / on(%(srv)s)
      (mysql_global_variables_max_connections{%(server)s} > 0)
    ||| % v,
    // The states that hold a slot of the application's pool; `idle` is a connection parked
    // in it (free), unless the pool's idle_sessions is checked_out.
    local heldStates = 'state=~"active|lock_wait|idle_in_transaction"',

    'mysql-connection-saturation.json': common.dashboard(
      'mysql-pool-saturation',
      'MySQL connection saturation',
      'Which application pool is out of connections, and why (load, a leak of sessions idle in a transaction, slow queries)? Then the server: max_connections, sessions, the exporter. From mysql_pool_exporter.',
      [
        g.row('Application pools: which one is out of connections, and why', 0),

        g.panel(
          'bargauge',
          'Pools at a glance',
          u.fold(|||
            Each application pool per instance: held sessions / capacity ((pool_size + max_overflow) ×
            processes), the highest of the last 5 minutes (recording rule
            mysql_pool:utilization_ratio:max5m), so a pool that was full a minute ago still
            shows. Orange from %(poolWarnPct)s %% (MySQLPoolNearExhaustion), red at %(poolCritPct)s %%
            (MySQLPoolExhausted): the application gets 'QueuePool limit ... reached' timeouts.
            Click a bar for that pool's drill-down on that instance, or for the exporter's
            status page, which lists the leaked sessions with their ids. The panels below
            show why it is full.
          ||| % v),
          g.pos(0, 1, 8, 9),
          [g.target('max by (%(srvPool)s) (mysql_pool:utilization_ratio:max5m{%(pooled)s})' % v, v.atPool, instant=true)],
        ) + g.links([drilldown, statusPage])
        + g.noValue('No pool: declare the application pools in the exporter config (pools:), and load alerting-rules/ into Prometheus (this reads the recording rule mysql_pool:utilization_ratio:max5m)') {
          fieldConfig+: {
            defaults+: {
              color: { mode: 'thresholds' },
              unit: 'percentunit',
              thresholds: common.poolSteps,
              min: 0,
              max: 1,
              mappings: [],
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

        common.firingAlerts(g.pos(8, 1, 16, 9)),

        // One row per selected instance, one graph per selected pool in it: a stack of
        // states must never add up sessions of two servers or two pools.
        g.repeatedRow('Pools on $instance: held sessions by state', 10, 'instance'),

        g.timeseries(
          '$pool on $instance: held sessions by state',
          u.fold(|||
            The sessions that hold a slot of this pool, stacked by state: active (blue, running a
            statement), lock_wait (orange), idle_in_transaction (red: checked out, transaction
            open, nothing running: the leak). The dashed red line is the capacity, the dotted
            orange line the most sessions held at once within each step, from the exporter's
            sampler (once a second, so a pool full for a few seconds between two scrapes
            shows, at any time range). Stack at the dashed line: the pool is exhausted. Mostly
            red: a leak; free the sessions (mysql_pool_exporter kill-idle, dry run first; the
            status page lists them with their ids) and fix the code path that never returns
            them. Mostly blue/orange: load, slow queries or lock waits; see the drill-down.
            Parked idle connections (free) are not drawn; the drill-down shows them.
          |||),
          g.pos(0, 11, 8, 8),
          [
            g.target('sum by (%(srvPool)s, state) (mysql_pool_sessions{%(pooled)s, %(heldStates)s})' % (v { heldStates: heldStates }),
                     '{{%(target)s}} {{state}}' % v,
                     'A'),
            // Idle sessions count as held only in pools with idle_sessions: checked_out.
            // The refId tells scripts/dashboard_queries.py that this is usually empty.
            g.target(u.expr(|||
              label_replace(
                sum by (%(srvPool)s) (mysql_pool_held_sessions{%(pooled)s})
                - sum by (%(srvPool)s) (mysql_pool_sessions{%(pooled)s, %(heldStates)s})
                > 0,
                "state", "idle", "", ""
              )
            ||| % (v { heldStates: heldStates })), '{{%(target)s}} held idle' % v, 'OPTIONAL_HELD_IDLE'),
            g.target('max by (%(srvPool)s) (mysql_pool_capacity{%(pooled)s})' % v, '{{%(target)s}} capacity' % v, 'C'),
            // The sampler's maximum; without the sampler, the scrapes' own.
            g.target(u.expr(|||
              max by (%(srvPool)s) (
                max_over_time(mysql_pool_held_sessions_max{%(pooled)s}[$__interval])
                or max_over_time(mysql_pool_held_sessions{%(pooled)s}[$__interval])
              )
            ||| % v), '{{%(target)s}} most held at once' % v, 'D'),
          ],
          'short',
          stacking='normal',
          fillOpacity=50,
          overrides=g.stateColors + [g.limitLine('.*capacity$', 'red'), g.peakLine('.*most held at once$', 'orange')],
        ) + g.repeat('pool', 3) + g.links([drilldown, statusPage])
        + g.noValue('This pool has no series on this instance: the exporter of this instance has no such pool in its config (pools are per exporter config), or its pools collector fails (see Exporter health)'),

        g.row('Server connections', 19),

        g.stat(
          'Connection saturation',
          u.fold(|||
            Client connections as a share of max_connections, per instance (the peak of the
            last step). Orange from %(connWarnPct)s %% (alert MySQLConnectionsNearLimit), red from %(connCritPct)s %%
            (MySQLConnectionsExhausted): new connections are about to be refused with 'Too many
            connections'. Green here does not mean the applications are fine: a pool is full
            inside the application long before the server is (see the pools above). When red:
            find the pool that holds the connections above, and whether its sessions are idle
            in transaction (a leak) or active (load, slow queries); raise max_connections only
            if the pools' total capacity really needs it.
          ||| % v),
          g.pos(0, 20, 4, 8),
          [g.target(u.expr(saturation), v.at)],
          'percentunit',
          common.connectionSteps,
          decimals=1,
        ) + g.noValue('No data: the exporter is not scraped for this job and instance, or its global_status or global_variables collector fails (see Exporter health)'),

        g.timeseries(
          'Connections vs max_connections',
          u.fold(|||
            Threads_connected (the peak of each step) against the server limit max_connections
            (dashed red) and the high-water mark Max_used_connections (dashed orange); dotted:
            the most connections the exporter's sampler saw at once between two scrapes. When
            the connected line reaches the limit the server refuses new clients: find the pool
            that grows above.
          |||),
          g.pos(4, 20, 10, 8),
          [
            g.target('max_over_time(mysql_global_status_threads_connected{%(server)s}[$__interval])' % v, '%(at)s connected' % v, 'A'),
            g.target('mysql_global_variables_max_connections{%(server)s}' % v, '%(at)s max_connections' % v, 'B'),
            g.target('mysql_global_status_max_used_connections{%(server)s}' % v, '%(at)s max used' % v, 'C'),
            // The refId tells scripts/dashboard_queries.py that this may be empty: no sampler.
            g.target('max_over_time(mysql_threads_connected_max{%(server)s}[$__interval])' % v,
                     '%(at)s connected, peak between scrapes' % v,
                     'OPTIONAL_SAMPLER'),
          ],
          'short',
          fillOpacity=0,
          overrides=[
            g.limitLine('.*max_connections$', 'red'),
            g.limitLine('.*max used$', 'orange'),
            g.peakLine('.*peak between scrapes$', 'purple'),
          ],
        ) + g.noValue('No data: the exporter is not scraped for this job and instance (see Exporter health)'),

        g.timeseries(
          'Connection saturation over time',
          u.fold(|||
            Threads_connected / max_connections, the peak of each step. The dashed lines are the
            alert thresholds: %(connWarnPct)s %% (MySQLConnectionsNearLimit) and %(connCritPct)s %%
            (MySQLConnectionsExhausted). When it is in the red band, act as for the 'Connection
            saturation' stat: find the pool and the reason (leak, load, slow query) before
            raising max_connections.
          ||| % v),
          g.pos(14, 20, 10, 8),
          [g.target(u.expr(saturation), v.at)],
          'percentunit',
          common.connectionSteps,
          thresholdsStyle='dashed',
          max=1,
        ) + g.noValue('No data: the exporter is not scraped for this job and instance (see Exporter health)'),

        g.timeseries(
          'Threads running',
          u.fold(|||
            Threads_running: sessions executing a statement, the peak of each step; dotted: the
            most the sampler saw at once between scrapes. High threads running with flat
            throughput (the panel to the right) means statements are slow or wait for locks,
            and pools fill because their connections stay busy: look at the lock chains and the
            slow log rather than raising pool sizes. The dashed red line is the
            MySQLThreadsRunningHigh threshold (%(threadsRunning)s, about twice the database
            host's cores).
          ||| % v),
          g.pos(0, 28, 6, 8),
          [
            g.target('max_over_time(mysql_global_status_threads_running{%(server)s}[$__interval])' % v, v.at, 'A'),
            g.target('max_over_time(mysql_threads_running_max{%(server)s}[$__interval])' % v,
                     '%(at)s peak between scrapes' % v,
                     'OPTIONAL_SAMPLER'),
          ],
          'short',
          g.steps('green', [['red', c.threadsRunningHigh]]),
          thresholdsStyle='dashed',
          overrides=[g.peakLine('.*peak between scrapes$', 'purple')],
        ) + g.noValue('No data: the exporter is not scraped for this job and instance (see Exporter health)'),

        g.timeseries(
          'Throughput: statements per second',
          u.fold(|||
            Questions: statements the clients sent, per second; Queries: the same plus those
            run inside stored programs. Tells load from slowness: throughput rising with held
            sessions is load (more capacity, or fewer requests); throughput flat or falling
            while sessions pile up is slow statements or lock waits; throughput flat while a
            pool fills with idle_in_transaction is a leak (nothing runs on the held
            connections).
          |||),
          g.pos(6, 28, 6, 8),
          [
            g.target('rate(mysql_global_status_questions{%(server)s}[$__rate_interval])' % v, '%(at)s questions' % v, 'A'),
            g.target('rate(mysql_global_status_queries{%(server)s}[$__rate_interval])' % v, '%(at)s queries' % v, 'B'),
          ],
          'ops',
        ) + g.noValue('No data: the exporter is not scraped for this job and instance, or its global_status collector fails (see Exporter health)'),

        g.timeseries(
          'Aborted connects and refused connections',
          u.fold(|||
            Per second: Aborted_connects (failed handshakes: bad password, timeouts, refused),
            Connection_errors_max_connections (clients refused because max_connections was
            reached, red), Aborted_clients (connections dropped without a proper close: killed
            sessions, crashed or timed-out clients, wait_timeout), and the logins the server
            refused per account (MariaDB with userstat=1 only). Any refused (red) rate means
            applications already fail to connect: free or add connections now.
          |||),
          g.pos(12, 28, 6, 8),
          [
            g.target('rate(mysql_global_status_aborted_connects{%(server)s}[$__rate_interval])' % v,
                     '%(at)s aborted connects' % v,
                     'A'),
            g.target('rate(mysql_global_status_connection_errors_total{%(server)s, error="max_connections"}[$__rate_interval])' % v,
                     '%(at)s refused (max_connections)' % v,
                     'B'),
            g.target('rate(mysql_global_status_aborted_clients{%(server)s}[$__rate_interval])' % v,
                     '%(at)s aborted clients' % v,
                     'C'),
            // MariaDB's USER_STATISTICS only, and only accounts that were refused.
            g.target('sum by (%(srv)s, mysql_user, client_host) (rate(mysql_account_denied_connections_total{%(server)s}[$__rate_interval])) > 0' % v,
                     '%(at)s denied {{mysql_user}}@{{client_host}}' % v,
                     'OPTIONAL_DENIED'),
          ],
          'cps',
          overrides=[g.fixedColor('.*max_connections.*', 'red')],
        ) + g.noValue('No data: the exporter is not scraped for this job and instance (see Exporter health)'),

        g.timeseries(
          'Connection churn: top accounts',
          u.fold(|||
            New connections per second: the five accounts (user@host) that open the most per
            instance, and all accounts together. An account far above the others connects per
            request instead of using its pool (alert MySQLConnectionChurn above
            %(churn)s per second, dashed): every login costs the server a thread and a
            handshake. Per account needs performance_schema.accounts (MySQL's default, MariaDB
            with --performance-schema=ON) or MariaDB's userstat=1; without them only the total
            is drawn.
          ||| % v),
          g.pos(18, 28, 6, 8),
          [
            // Accounts summed as `other` may step down when one moves out of it (a false
            // reset for rate()), so only named accounts compete for the top five.
            g.target(u.expr(|||
              topk by (%(srv)s) (5,
                sum by (%(srv)s, mysql_user, client_host) (
                  rate(mysql_account_connections_total{%(server)s, mysql_user!="other"}[$__rate_interval])
                )
              )
            ||| % v), '%(at)s {{mysql_user}}@{{client_host}}' % v, 'A'),
            g.target('rate(mysql_global_status_connections{%(server)s}[$__rate_interval])' % v, '%(at)s all accounts' % v, 'B'),
          ],
          'cps',
          common.churnSteps,
          thresholdsStyle='dashed',
        ) + g.noValue('No data: the exporter is not scraped for this job and instance (see Exporter health)'),

        g.row('Sessions', 36),

        g.timeseries(
          'Oldest open transaction',
          u.fold(|||
            Age of each MySQL user's oldest open InnoDB transaction. Red from %(idleSeconds)s s, the
            MySQLIdleInTransaction threshold: a transaction that old in a web application is
            almost always a leaked session that also holds row locks and blocks purge (see the
            history list length). When red: find the pool in the drill-down, then the session
            (the exporter's status page and `mysql_pool_exporter check` list the worst sessions
            with their ids); kill it only after a dry run of mysql_pool_exporter kill-idle.
          ||| % v),
          g.pos(0, 37, 6, 8),
          [g.target('max by (%(srv)s, mysql_user) (mysql_oldest_transaction_seconds{%(server)s})' % v,
                    '%(at)s {{mysql_user}}' % v)],
          's',
          common.idleAgeSteps,
          thresholdsStyle='dashed',
        ) + g.links([statusPage])
        + g.noValue('No open InnoDB transaction (good); or the sessions collector is skipped: it needs PROCESS (see Exporter health)'),

        g.timeseries(
          'Oldest running statement',
          u.fold(|||
            Per MySQL user, the age of its oldest statement that is running (active, blue) or
            waiting for a lock (lock_wait, orange). Red from %(longSeconds)s s, the MySQLLongRunningQuery
            threshold. Long statements keep their pool's connections busy: a pool full of
            active sessions with old statements is slow queries, not load. Find the statement
            on the status page or with `mysql_pool_exporter check`, and look at the lock chains
            in the drill-down for lock_wait.
          ||| % v),
          g.pos(6, 37, 6, 8),
          // The refId tells scripts/dashboard_queries.py that this may be empty: the series
          // exist only while a statement runs.
          [g.target('max by (%(srv)s, mysql_user, state) (mysql_oldest_statement_seconds{%(server)s})' % v,
                    '%(at)s {{mysql_user}} {{state}}' % v,
                    'OPTIONAL_RUNNING')],
          's',
          g.steps('green', [['red', c.longQuerySeconds]]),
          thresholdsStyle='dashed',
          overrides=g.stateColors,
        ) + g.links([statusPage])
        + g.noValue('No statement is running or waiting for a lock now (good); or the sessions collector is skipped: it needs PROCESS'),

        g.timeseries(
          'Sessions past the alert thresholds',
          u.fold(|||
            Sessions idle in transaction for more than %(idleSeconds)s s (MySQLIdleInTransaction) and
            sessions running or waiting on a lock for more than %(longSeconds)s s (MySQLLongRunningQuery),
            counted from the session-age buckets. The line turns red as soon as one exists.
            Idle in transaction: a leak, see 'Oldest open transaction'. Long running: find the
            statement (status page, check), look for lock waits, fix or kill the query.
          ||| % v),
          g.pos(12, 37, 6, 8),
          [
            g.target(u.expr(|||
              sum by (%(srv)s) (mysql_session_age_seconds_count{%(server)s, state="idle_in_transaction"})
              - sum by (%(srv)s) (mysql_session_age_seconds_bucket{%(server)s, state="idle_in_transaction", le="%(idleSeconds)s"})
              or sum by (%(srv)s) (0 * mysql_up{%(server)s})
            ||| % v), '%(at)s idle in transaction > %(idleSeconds)s s' % v, 'A'),
            g.target(u.expr(|||
              sum by (%(srv)s) (mysql_session_age_seconds_count{%(server)s, state=~"active|lock_wait"})
              - sum by (%(srv)s) (mysql_session_age_seconds_bucket{%(server)s, state=~"active|lock_wait", le="%(longSeconds)s"})
              or sum by (%(srv)s) (0 * mysql_up{%(server)s})
            ||| % v), '%(at)s running > %(longSeconds)s s' % v, 'B'),
          ],
          'short',
          common.anySessionSteps,
        ) + g.colourByThresholds
        + g.noValue('No data: the exporter is not scraped for this job and instance (see Exporter health)'),

        g.timeseries(
          'InnoDB history list length',
          u.fold(|||
            Undo records that purge cannot remove yet because an old transaction may still read
            them (information_schema.INNODB_METRICS trx_rseg_history_len). A session idle in a
            transaction keeps it growing for as long as it stays open, so it climbs during a
            leak and falls once the sessions are killed; a high value slows every query that
            reads changed rows. Rising steadily with 'Oldest open transaction': the same leak.
          |||),
          g.pos(18, 37, 6, 8),
          [g.target('max by (%(srv)s) (mysql_info_schema_innodb_metrics_transaction_trx_rseg_history_len{%(server)s})' % v, v.at)],
          'short',
        ) + g.noValue('No data: the innodb_metrics collector is off or skipped; on MySQL it needs PROCESS (see Exporter health)'),

        // Per instance: stacks and heatmaps must not mix servers.
        g.repeatedRow('Sessions on $instance', 45, 'instance'),

        g.timeseries(
          'Sessions on $instance by state',
          u.fold(|||
            Client sessions of this instance by state: active (blue, running a statement),
            lock_wait (orange, waiting for a lock), idle (green, Sleep without a transaction:
            parked in a pool, free), idle_in_transaction (red, Sleep with an open transaction:
            the leak signature). A growing red band is a connection leak: code that used a
            session and never committed, rolled back or removed it (SQLAlchemy:
            session.remove() in background threads and at teardown).
          |||),
          g.pos(0, 46, 6, 8),
          [g.target('sum by (%(srv)s, state) (mysql_sessions{%(server)s})' % v, '{{%(target)s}} {{state}}' % v)],
          'short',
          stacking='normal',
          overrides=g.stateColors,
        ) + g.noValue('No sessions: the sessions collector is skipped (it needs PROCESS) or fails (see Exporter health)'),

        g.heatmap(
          'Session ages on $instance (not idle)',
          u.fold(|||
            How long this instance's working and held sessions have been in their state (query
            age for active and lock_wait, transaction age for idle_in_transaction), from
            mysql_session_age_seconds (a snapshot of the current sessions, so no rate()).
            Parked idle connections are left out: they may sleep for hours and are free. Cells
            high up the axis (minutes and more) that persist are sessions nobody returns: see
            'Oldest open transaction' and the drill-down.
          |||),
          g.pos(6, 46, 6, 8),
          'sum by (le) (mysql_session_age_seconds_bucket{%(server)s, state!="idle"})' % v,
        ) + g.noValue('No sessions: the sessions collector is skipped (it needs PROCESS) or fails (see Exporter health)'),

        g.timeseries(
          'Sessions on $instance by MySQL user',
          u.fold(|||
            Client sessions of this instance per MySQL account, split by state (state colours as
            elsewhere). The user whose idle_in_transaction (red) or total grows is the
            application to look at; compare with its pool's capacity in the drill-down and with
            MAX_USER_CONNECTIONS if it is set.
          |||),
          g.pos(12, 46, 6, 8),
          [g.target('sum by (%(srv)s, mysql_user, state) (mysql_sessions{%(server)s})' % v, '{{%(target)s}} {{mysql_user}} {{state}}' % v)],
          'short',
          stacking='normal',
          overrides=g.stateColors,
        ) + g.noValue('No sessions: the sessions collector is skipped (it needs PROCESS) or fails (see Exporter health)'),

        g.timeseries(
          'Processlist threads on $instance by command',
          u.fold(|||
            Server threads from the processlist by command (Sleep, Query, ...), as
            mysqld_exporter's info_schema.processlist. Many Sleep threads with few Query threads
            while a pool is full: connections held but unused; the states to the left say
            whether they are parked (idle) or leaked (idle_in_transaction).
          |||),
          g.pos(18, 46, 6, 8),
          [g.target('sum by (%(srv)s, command) (mysql_info_schema_processlist_threads{%(server)s})' % v,
                    '{{%(target)s}} {{command}}' % v)],
          'short',
          stacking='normal',
        ) + g.noValue('No data: the processlist collector is skipped (it needs PROCESS) or fails (see Exporter health)'),

        g.row('Application pools over time', 54),

        g.timeseries(
          'Pool utilisation over time',
          u.fold(|||
            Per pool and instance, held sessions / capacity: the peak of each step (solid) and
            the most the sampler saw at once between scrapes (dotted), so an exhaustion of a few
            seconds is not lost at a long range. The alert thresholds %(poolWarnPct)s %% and %(poolCritPct)s %% are
            dashed. A step that never comes down is a leak; a curve that follows traffic is
            load (add capacity, within max_connections); spikes are slow queries or lock
            pile-ups. Click a line for that pool's drill-down.
          ||| % v),
          g.pos(0, 55, 10, 8),
          [
            g.target('max by (%(srvPool)s) (max_over_time(mysql_pool_utilization_ratio{%(pooled)s}[$__interval]))' % v, v.atPool, 'A'),
            g.target(u.expr(|||
              max by (%(srvPool)s) (max_over_time(mysql_pool_held_sessions_max{%(pooled)s}[$__interval]))
              / on(%(srvPool)s)
              (max by (%(srvPool)s) (mysql_pool_capacity{%(pooled)s}) > 0)
            ||| % v), '%(atPool)s peak between scrapes' % v, 'OPTIONAL_SAMPLER'),
          ],
          'percentunit',
          common.poolSteps,
          thresholdsStyle='dashed',
          max=1,
          overrides=[g.peakLine('.*peak between scrapes$', 'purple')],
        ) + g.links([drilldown])
        + g.noValue('No pool: declare the application pools in the exporter config (pools:)'),

        g.timeseries(
          'Pools full between scrapes',
          u.fold(|||
            How long each pool's last spell at its capacity lasted, as the exporter's sampler
            measured it (once a second, within its window: mysql_pool_full_seconds). A pool
            full for a few seconds between two scrapes shows here even when every scrape found
            it below capacity (alert MySQLPoolFullBetweenScrapes): bursts of requests, or a
            batch job, briefly take every connection and requests wait for one.
          |||),
          g.pos(10, 55, 6, 8),
          // The refId tells scripts/dashboard_queries.py that this may be empty: the series
          // exist only while a pool was full within the window.
          [g.target('max by (%(srvPool)s) (max_over_time(mysql_pool_full_seconds{%(pooled)s}[$__interval]))' % v,
                    v.atPool,
                    'OPTIONAL_SAMPLER')],
          's',
        ) + g.links([drilldown])
        + g.noValue("No pool reached its capacity within the sampler's window (good), or the sampler is off (--no-collect.sampler)"),

        g.panel(
          'bargauge',
          'Apps outside every pool',
          u.fold(|||
            Applications whose sessions match no pool of the exporter config, found by their
            program_name connect attribute (else user@host), with the sessions they hold. They
            have no capacity, so no utilisation and no exhaustion alert: declare a pool for any
            that matters (pools: in the exporter config; docs/metrics.md).
          |||),
          g.pos(16, 55, 4, 8),
          [g.target('max by (%(srvPool)s) (mysql_pool_held_sessions{%(server)s} * on(%(srvPool)s) group_left mysql_pool_discovered{%(server)s})' % v,
                    v.atPool,
                    'OPTIONAL_DISCOVERED',
                    instant=true)],
        ) + g.noValue('Every session belongs to a configured pool') {
          fieldConfig+: {
            defaults+: {
              color: { mode: 'fixed', fixedColor: 'blue' },
              unit: 'short',
              min: 0,
              thresholds: g.steps('blue'),
              mappings: [],
            },
            overrides: [],
          },
          options: {
            displayMode: 'basic',
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

        g.stat(
          'Pool overcommit',
          u.fold(|||
            Sum of all configured pools' capacity / max_connections, per instance. Above %(overcommitPct)s %% (red,
            MySQLPoolOvercommitted) the pools together may open more connections than the server
            accepts, so one busy application can starve the others: lower pool_size/max_overflow
            or the number of processes, or raise max_connections.
          ||| % v),
          g.pos(20, 55, 4, 8),
          [g.target('max by (%(srv)s) (mysql_pool_overcommit_ratio{%(server)s})' % v, v.at)],
          'percentunit',
          common.overcommitSteps,
          decimals=0,
        ) + g.noValue('No pool is configured, or max_connections is unknown (global_variables collector)'),

        g.row('Exporter health', 63),

        g.stat(
          'MySQL reachable',
          u.fold(|||
            mysql_up: 1 when the exporter's persistent connection answered this scrape. Red (DOWN,
            alert MySQLDown) means the server is unreachable or refuses the exporter: check the
            server, the network and the exporter's log. The exporter keeps its connection open,
            so it stays UP when the server is full of application connections. No data means
            Prometheus does not scrape the exporter at all for this job and instance.
          |||),
          g.pos(0, 64, 4, 6),
          [g.target('min by (%(srv)s) (mysql_up{%(server)s})' % v, v.at)],
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
        ) + g.noValue("Not scraped: Prometheus has no mysql_up for this job and instance. Check Prometheus' targets page (alert MySQLExporterScrapeFailing) and the Job variable"),

        g.panel(
          'state-timeline',
          'Collectors: ok, failed, skipped',
          u.fold(|||
            Per collector: ok (green) when its queries succeeded this scrape, failed (red) when
            they did not (its series are then missing, never stale; alert
            MySQLExporterScrapeFailing): the exporter log names the failing query, usually a
            missing privilege or a statement timeout on an overloaded server. Skipped (blue):
            the server or the exporter's privileges lack the collector's source (said once in
            the log), so the panels fed by it stay empty: e.g. sessions and processlist need
            PROCESS, per-account churn performance_schema.
          |||),
          g.pos(4, 64, 8, 6),
          [g.target(u.expr(|||
            min by (%(srv)s, collector) (mysql_exporter_collector_success{%(server)s})
            or max by (%(srv)s, collector) (2 * mysql_exporter_collector_skipped{%(server)s})
          ||| % v), '%(at)s {{collector}}' % v)],
        ) + g.noValue('No data: the exporter is not scraped for this job and instance') {
          fieldConfig+: {
            defaults+: {
              color: { mode: 'thresholds' },
              unit: 'short',
              thresholds: g.steps('red', [['green', 1], ['blue', 2]]),
              mappings: [{
                type: 'value',
                options: {
                  '0': { text: 'failed', color: 'red', index: 0 },
                  '1': { text: 'ok', color: 'green', index: 1 },
                  '2': { text: 'skipped', color: 'blue', index: 2 },
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
          g.pos(12, 64, 6, 6),
          [
            g.target('max by (%(srv)s, collector) (mysql_exporter_collector_duration_seconds{%(server)s})' % v,
                     '%(at)s {{collector}}' % v,
                     'A'),
            g.target('histogram_quantile(0.9, sum by (%(srv)s, le) (rate(mysql_exporter_scrape_duration_seconds_bucket{%(server)s}[$__rate_interval])))' % v,
                     '%(at)s p90 collection' % v,
                     'B'),
          ],
          's',
        ) + g.noValue('No data: the exporter is not scraped for this job and instance'),

        g.timeseries(
          'Sampler: interval and sample time',
          u.fold(|||
            The exporter's sampler reads the session list once a second between scrapes (the
            peaks and 'full between scrapes' above come from it). Interval: the time between
            two samples now; it grows when a sample takes more than a tenth of it (the sampler
            backs off and says so in the log), and the peaks get coarser. Sample time: how long
            the last sample took on the server.
          |||),
          g.pos(18, 64, 6, 6),
          [
            g.target('max by (%(srv)s) (mysql_exporter_sampler_interval_seconds{%(server)s})' % v, '%(at)s interval' % v, 'OPTIONAL_SAMPLER_A'),
            g.target('max by (%(srv)s) (mysql_exporter_sampler_duration_seconds{%(server)s})' % v, '%(at)s sample time' % v, 'OPTIONAL_SAMPLER_B'),
          ],
          's',
        ) + g.noValue('The sampler is off (--no-collect.sampler): no peaks between scrapes'),
      ],
    ),
  },
}
