// Drill-down into application pools: near exhaustion? a leak, slow work or load? Opened from
// the overview's bars and lines with the clicked pool and instance. The rules of the
// overview hold here too (connection-saturation.libsonnet's header).
local g = import '../lib/grafana.libsonnet';
local u = import '../lib/utils.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local common = (import 'common.libsonnet')(c, $.prometheusAlerts),
    local v = common.v {
      // The application's own numbers (OpenTelemetry), per pool name only: see rules.libsonnet.
      appUsed: 'mysql_pool:app_used_connections',
      appIdle: 'mysql_pool:app_idle_connections',
    },
    local statusPage = common.statusPageLink,

    'mysql-application-pool.json': common.dashboard(
      'mysql-pool-drilldown',
      'MySQL application pool',
      'Drill-down into application connection pools: is one near exhaustion, and is it a leak (idle in transaction), slow work or plain load? From mysql_pool_exporter.',
      [
        g.row('Pool capacity', 0),

        g.stat(
          'Pool utilisation',
          u.fold(|||
            Held sessions / capacity of each selected pool on each instance, now (held: active,
            lock_wait, idle_in_transaction; a connection parked idle in the pool is free). Orange from %(poolWarnPct)s %%
            (MySQLPoolNearExhaustion), red at %(poolCritPct)s %% (MySQLPoolExhausted): requests wait for a
            connection and fail with 'QueuePool limit of size N overflow M reached'. When red:
            look below whether the sessions are idle_in_transaction (a leak: fix session cleanup,
            e.g. session.remove() in background threads; free them with mysql_pool_exporter
            kill-idle after a dry run) or active/lock_wait (slow queries or load: fix the query,
            or add capacity within max_connections).
          ||| % v),
          g.pos(0, 1, 5, 8),
          [g.target('max by (%(srvPool)s) (mysql_pool_utilization_ratio{%(pooled)s})' % v, v.atPool)],
          'percentunit',
          common.poolSteps,
          decimals=0,
        ) + g.links([statusPage])
        + g.noValue('No pool: pick one in the Pool variable (it lists the pools of the exporter config), or declare pools in the exporter config (pools:)'),

        g.timeseries(
          'Pool held and open vs capacity',
          u.fold(|||
            Held: sessions that occupy a slot of the application's pool (working, waiting for a
            lock, or idle inside a transaction), the peak of each step. Open: every connection the
            pool has on the server, including those parked idle in the pool, which are free
            (SQLAlchemy keeps up to pool_size of them). Capacity: (pool_size + max_overflow) ×
            processes, dashed red. Dotted: the most held and open at once that the exporter's
            sampler saw between scrapes. When held reaches capacity the application's pool is
            exhausted: the states below say why. Open at capacity with held low is a healthy
            pool that was once full.
          |||),
          g.pos(5, 1, 12, 8),
          [
            g.target('max by (%(srvPool)s) (max_over_time(mysql_pool_held_sessions{%(pooled)s}[$__interval]))' % v, '%(atPool)s held' % v, 'A'),
            g.target('sum by (%(srvPool)s) (mysql_pool_sessions{%(pooled)s})' % v, '%(atPool)s open' % v, 'B'),
            g.target('max by (%(srvPool)s) (mysql_pool_capacity{%(pooled)s})' % v, '%(atPool)s capacity' % v, 'C'),
            // The refIds tell scripts/dashboard_queries.py that these may be empty: no sampler.
            g.target('max by (%(srvPool)s) (max_over_time(mysql_pool_held_sessions_max{%(pooled)s}[$__interval]))' % v,
                     '%(atPool)s held, most at once' % v,
                     'OPTIONAL_SAMPLER_D'),
            g.target('max by (%(srvPool)s) (max_over_time(mysql_pool_open_sessions_max{%(pooled)s}[$__interval]))' % v,
                     '%(atPool)s open, most at once' % v,
                     'OPTIONAL_SAMPLER_E'),
          ],
          'short',
          overrides=[g.limitLine('.* capacity$', 'red'), g.peakLine('.*most at once$', 'purple')],
        ) + g.noValue('No pool: pick one in the Pool variable, or declare pools in the exporter config (pools:)'),

        g.timeseries(
          'Pool utilisation over time',
          u.fold(|||
            Held sessions / capacity per pool and instance (the peak of each step, solid), its
            5-minute mean (recording rule mysql_pool:utilization_ratio:avg5m) and the open
            ratio: all the pool's connections, parked ones included, / capacity. The %(poolWarnPct)s %% and %(poolCritPct)s %%
            alert thresholds are dashed. Flat at the top: a leak or a permanently undersized
            pool; follows traffic: load; spiky: slow queries or lock pile-ups. Open near 100 %%
            with held low: the app keeps many parked connections (pool_size), harmless.
          ||| % v),
          g.pos(17, 1, 7, 8),
          [
            g.target('max by (%(srvPool)s) (max_over_time(mysql_pool_utilization_ratio{%(pooled)s}[$__interval]))' % v, '%(atPool)s held' % v, 'A'),
            g.target('max by (%(srvPool)s) (mysql_pool:utilization_ratio:avg5m{%(pooled)s})' % v, '%(atPool)s held, 5 min mean' % v, 'B'),
            g.target('max by (%(srvPool)s) (max_over_time(mysql_pool_open_ratio{%(pooled)s}[$__interval]))' % v, '%(atPool)s open' % v, 'C'),
          ],
          'percentunit',
          common.poolSteps,
          thresholdsStyle='dashed',
          max=1,
        ) + g.noValue('No pool: pick one in the Pool variable, or declare pools in the exporter config (pools:)'),

        // One row per selected instance; in it, one line per selected pool: its sessions by
        // state (left) beside their ages (right). Stacks and heatmaps never mix two servers or
        // two pools.
        g.repeatedRow("$instance: what each pool's sessions do", 9, 'instance'),

        g.timeseries(
          '$pool on $instance: sessions by state',
          u.fold(|||
            What this pool's sessions on this instance are doing, stacked: active (blue, running a
            statement), lock_wait (orange, waiting for a lock), idle_in_transaction (red:
            checked out, transaction open, nothing running: the leak), idle (green: parked in
            the pool, free). Dashed red: the capacity. A red band that only grows is the
            incident pattern: a code path (often a background thread) never releases its
            session. Mostly blue/orange at capacity: slow queries or lock contention (see the
            lock chains). The status page lists the sessions with their ids.
          |||),
          g.pos(0, 10, 12, 8),
          [
            g.target('sum by (%(srvPool)s, state) (mysql_pool_sessions{%(pooled)s})' % v, '{{%(target)s}} {{state}}' % v, 'A'),
            g.target('max by (%(srvPool)s) (mysql_pool_capacity{%(pooled)s})' % v, '{{%(target)s}} capacity' % v, 'B'),
          ],
          'short',
          stacking='normal',
          fillOpacity=50,
          overrides=g.stateColors + [g.limitLine('.*capacity$', 'red')],
        ) + g.repeat('pool', direction='v') + g.links([statusPage])
        + g.noValue('This pool has no series on this instance: the exporter of this instance has no such pool in its config'),

        g.heatmap(
          '$pool on $instance: session ages (not idle)',
          u.fold(|||
            How long this pool's working and held sessions have been in their state (query age
            for active and lock_wait, transaction age for idle_in_transaction), from
            mysql_pool_session_age_seconds (a snapshot, so no rate()). Parked idle connections are
            left out: they are free however long they sleep. A band that climbs the axis over
            time is a set of sessions never returned: compare with 'Oldest idle-in-transaction
            session'.
          |||),
          g.pos(12, 10, 12, 8),
          'sum by (le) (mysql_pool_session_age_seconds_bucket{%(pooled)s, state!="idle"})' % v,
        ) + g.repeat('pool', direction='v')
        + g.noValue('This pool has no series on this instance: the exporter of this instance has no such pool in its config'),

        g.row('Processes and limits', 18),

        g.timeseries(
          'Fullest client process',
          u.fold(|||
            Per client process of the pool (from performance_schema.session_connect_attrs): the
            most sessions one process holds (held: working, waiting, or idle in a transaction)
            and the most one process has open (parked ones included), against what one process
            may open, pool_size + max_overflow (dashed red). Held at the dashed line: that
            process's requests wait for a connection (alert MySQLPoolProcessExhausted), even
            when the pool as a whole has room; it is the leaking or stuck worker: restart it to
            get its connections back now, then fix the leak. Only the dashed line: no
            per-process counts, because performance_schema is off (MariaDB's default: start it
            with --performance-schema=ON; MySQL has it on).
          |||),
          g.pos(0, 19, 8, 8),
          [
            // The refId tells scripts/dashboard_queries.py that this may be empty.
            g.target('max by (%(srvPool)s) (max_over_time(mysql_pool_process_held_sessions_max{%(pooled)s}[$__interval]))' % v,
                     '%(atPool)s held by one process' % v,
                     'OPTIONAL_PERFORMANCE_SCHEMA_HELD'),
            g.target('max by (%(srvPool)s) (max_over_time(mysql_pool_process_sessions_max{%(pooled)s}[$__interval]))' % v,
                     '%(atPool)s open by one process' % v,
                     'OPTIONAL_PERFORMANCE_SCHEMA'),
            g.target('max by (%(srvPool)s) (mysql_pool_process_capacity{%(pooled)s})' % v, '%(atPool)s per-process capacity' % v, 'B'),
          ],
          'short',
          overrides=[g.limitLine('.*per-process capacity$', 'red')],
        ) + g.noValue('No pool: pick one in the Pool variable; per-process counts need performance_schema (MariaDB: --performance-schema=ON)'),

        g.timeseries(
          'Connections per MySQL user vs MAX_USER_CONNECTIONS',
          u.fold(|||
            Connections per MySQL account (processlist), and the MAX_USER_CONNECTIONS that applies
            to each selected pool's user (dashed red: the account's own limit, else the global
            max_user_connections; absent when unlimited). An account at its dashed line gets
            'User ... has exceeded the max_user_connections resource' (alert
            MySQLUserConnectionsNearLimit), even with free slots in its pool and on the
            server.
          |||),
          g.pos(8, 19, 8, 8),
          [
            g.target('max by (%(srv)s, mysql_user) (mysql_info_schema_processlist_processes_by_user{%(server)s})' % v,
                     '%(at)s {{mysql_user}}' % v,
                     'A'),
            // Absent when the pool's user has no limit: may be empty.
            g.target('max by (%(srvPool)s, mysql_user) (mysql_pool_user_connection_limit{%(pooled)s})' % v,
                     '%(at)s {{mysql_user}} limit ({{%(pool)s}})' % v,
                     'OPTIONAL_NO_LIMIT'),
          ],
          'short',
          overrides=[g.limitLine('.* limit \\(.*\\)$', 'red')],
        ) + g.noValue('No data: the processlist collector is skipped (it needs PROCESS) or fails'),

        g.stat(
          'Pool overcommit',
          u.fold(|||
            Sum of all pools' capacity / max_connections on the instance. Above %(overcommitPct)s %% (red,
            MySQLPoolOvercommitted) the pools may together open more connections than the server
            accepts: lower pool sizes or process counts, or raise max_connections.
          ||| % v),
          g.pos(16, 19, 4, 8),
          [g.target('max by (%(srv)s) (mysql_pool_overcommit_ratio{%(server)s})' % v, v.at)],
          'percentunit',
          common.overcommitSteps,
          decimals=0,
        ) + g.noValue('No pool is configured, or max_connections is unknown (global_variables collector)'),

        g.stat(
          'Last full (sampler)',
          u.fold(|||
            When the exporter's sampler (once a second) last found the pool at its capacity,
            and how long that spell lasted, within its window (a minute by default). Catches a
            pool full for a few seconds between two scrapes (alert MySQLPoolFullBetweenScrapes),
            which the scraped series miss. The status page and `mysql_pool_exporter check
            --exporter` say the same.
          |||),
          g.pos(20, 19, 4, 8),
          [
            // The refIds tell scripts/dashboard_queries.py that these may be empty: the
            // series exist only while the pool was full within the window.
            g.target('time() - max by (%(srvPool)s) (mysql_pool_last_full_timestamp_seconds{%(pooled)s})' % v,
                     '%(atPool)s ago' % v,
                     'OPTIONAL_SAMPLER_A'),
            g.target('max by (%(srvPool)s) (mysql_pool_full_seconds{%(pooled)s})' % v,
                     '%(atPool)s lasted' % v,
                     'OPTIONAL_SAMPLER_B'),
          ],
          's',
          g.steps('orange'),
          decimals=0,
          graphMode='none',
        ) + g.noValue("Not full within the sampler's window (good), or the sampler is off (--no-collect.sampler)"),

        g.row('Leaks: idle in transaction', 27),

        g.timeseries(
          'Idle-in-transaction sessions',
          u.fold(|||
            Sessions of the pool that sleep with an open transaction; the line turns red from one.
            A few for a moment are normal; a count that keeps growing is a leak (see the age
            panel). Fix: make every code path release its session (commit/rollback and
            session.remove(), teardown_appcontext); relief: mysql_pool_exporter kill-idle
            --pool <pool> --idle-in-transaction-older-than 5m, dry run first.
          |||),
          g.pos(0, 28, 6, 8),
          [g.target(u.expr(|||
            sum by (%(srvPool)s) (mysql_pool_sessions{%(pooled)s, state="idle_in_transaction"})
            or sum by (%(srvPool)s) (0 * mysql_pool_capacity{%(pooled)s})
          ||| % v), v.atPool)],
          'short',
          common.anySessionSteps,
        ) + g.colourByThresholds + g.links([statusPage])
        + g.noValue('No pool: pick one in the Pool variable, or declare pools in the exporter config (pools:)'),

        g.timeseries(
          'Oldest idle-in-transaction session',
          u.fold(|||
            Age of the pool's oldest session sleeping with an open transaction (0 if none). Red
            above %(idleSeconds)s s, the MySQLIdleInTransaction threshold. When red: the session holds a
            connection and its row locks; find it on the exporter's status page or with
            mysql_pool_exporter check (session ids, hosts, ages), fix the code path that leaked
            it, and free it with kill-idle after a dry run.
          ||| % v),
          g.pos(6, 28, 6, 8),
          [g.target('max by (%(srvPool)s) (mysql_pool_oldest_idle_transaction_seconds{%(pooled)s})' % v, v.atPool)],
          's',
          common.idleAgeSteps,
          thresholdsStyle='dashed',
        ) + g.links([statusPage])
        + g.noValue('No pool: pick one in the Pool variable, or declare pools in the exporter config (pools:)'),

        g.timeseries(
          'Pool sessions past the alert thresholds',
          u.fold(|||
            Sessions of the pool idle in transaction for more than %(idleSeconds)s s (MySQLIdleInTransaction)
            and running or waiting on a lock for more than %(longSeconds)s s (MySQLLongRunningQuery); the
            line turns red as soon as one exists: leaked sessions (fix the release path) or
            slow statements (find them on the status page, fix the query or the lock
            contention).
          ||| % v),
          g.pos(12, 28, 6, 8),
          [
            g.target(u.expr(|||
              sum by (%(srvPool)s) (mysql_pool_session_age_seconds_count{%(pooled)s, state="idle_in_transaction"})
              - sum by (%(srvPool)s) (mysql_pool_session_age_seconds_bucket{%(pooled)s, state="idle_in_transaction", le="%(idleSeconds)s"})
              or sum by (%(srvPool)s) (0 * mysql_pool_capacity{%(pooled)s})
            ||| % v), '%(atPool)s idle in transaction > %(idleSeconds)s s' % v, 'A'),
            g.target(u.expr(|||
              sum by (%(srvPool)s) (mysql_pool_session_age_seconds_count{%(pooled)s, state=~"active|lock_wait"})
              - sum by (%(srvPool)s) (mysql_pool_session_age_seconds_bucket{%(pooled)s, state=~"active|lock_wait", le="%(longSeconds)s"})
              or sum by (%(srvPool)s) (0 * mysql_pool_capacity{%(pooled)s})
            ||| % v), '%(atPool)s running > %(longSeconds)s s' % v, 'B'),
          ],
          'short',
          common.anySessionSteps,
        ) + g.colourByThresholds
        + g.noValue('No pool: pick one in the Pool variable, or declare pools in the exporter config (pools:)'),

        g.timeseries(
          'Oldest open transaction by MySQL user',
          u.fold(|||
            Age of each MySQL user's oldest open InnoDB transaction (all pools of that account).
            Red above %(idleSeconds)s s (MySQLIdleInTransaction threshold). Long transactions hold row locks
            and block purge; if the user belongs to this pool, the panels to the left show whether
            it is idle (leak) or running (slow statement).
          ||| % v),
          g.pos(18, 28, 6, 8),
          [g.target('max by (%(srv)s, mysql_user) (mysql_oldest_transaction_seconds{%(server)s})' % v,
                    '%(at)s {{mysql_user}}' % v)],
          's',
          common.idleAgeSteps,
          thresholdsStyle='dashed',
        ) + g.noValue('No open InnoDB transaction (good); or the sessions collector is skipped: it needs PROCESS'),

        g.row('Lock chains', 36),

        g.timeseries(
          'Sessions waiting for a lock, by kind',
          u.fold(|||
            Sessions waiting for a lock now, per instance and kind of lock (row, metadata,
            global_read, backup, flush, table, user). A plateau is a lock chain: one session
            holds what the others wait for (often idle in a transaction), and InnoDB fails
            row-lock waiters after innodb_lock_wait_timeout (50 s by default); a metadata
            plateau is usually a schema change queued behind an open transaction, with the
            application's queries queued behind it.
          |||),
          g.pos(0, 37, 8, 8),
          [g.target('sum by (%(srv)s, lock) (mysql_lock_waiting_sessions{%(server)s})' % v, '%(at)s {{lock}}' % v)],
          'short',
        ) + g.noValue('No data: the locks collector is skipped (it needs PROCESS; on MySQL also SELECT on performance_schema) or fails'),

        g.timeseries(
          'Root blockers: sessions behind them',
          u.fold(|||
            Per MySQL user, client host and kind of lock of a root blocker (a session that holds
            locks others wait for and waits for none): how many sessions wait behind it,
            directly or queued. The status page and mysql_pool_exporter check name the blocking
            session; kill-idle --root-blockers frees it (dry run first).
          |||),
          g.pos(8, 37, 8, 8),
          // The refId tells scripts/dashboard_queries.py that this may be empty.
          [g.target('max by (%(srv)s, mysql_user, client_host, lock) (mysql_lock_root_blocker_waiters{%(server)s})' % v,
                    '%(at)s {{mysql_user}}@{{client_host}} {{lock}}' % v,
                    'OPTIONAL_LOCK_CHAIN')],
          'short',
        ) + g.links([statusPage])
        + g.noValue('No lock chain: nothing waits for a lock (good)'),

        g.timeseries(
          'Root blockers: longest wait',
          u.fold(|||
            The longest time a session has waited behind each root blocker. Red from %(lockSeconds)s s,
            where MySQLLockWaitChain fires; InnoDB gives row-lock waiters up after
            innodb_lock_wait_timeout (50 s by default), so the line drops and rises again while
            the blocker stays.
          ||| % v),
          g.pos(16, 37, 8, 8),
          [g.target('max by (%(srv)s, mysql_user, client_host, lock) (mysql_lock_root_blocker_wait_seconds{%(server)s})' % v,
                    '%(at)s {{mysql_user}}@{{client_host}} {{lock}}' % v,
                    'OPTIONAL_LOCK_CHAIN')],
          's',
          common.lockWaitSteps,
          thresholdsStyle='dashed',
        ) + g.links([statusPage])
        + g.noValue('No lock chain: nothing waits for a lock (good)'),

        g.row('Who holds the connections', 45),

        g.timeseries(
          'Sessions by MySQL user and state',
          u.fold(|||
            Sessions per instance, MySQL account and state (top users; the rest summed as
            'other'), in the state colours; lines, not a stack, so that servers are not added
            up. Use it to tell whether the pool's account is the one filling the server, and
            which state dominates (idle_in_transaction: leak; active/lock_wait: slow work).
          |||),
          g.pos(0, 46, 12, 8),
          [g.target('sum by (%(srv)s, mysql_user, state) (mysql_sessions{%(server)s})' % v, '%(at)s {{mysql_user}} {{state}}' % v)],
          'short',
          overrides=g.stateColors,
        ) + g.noValue('No sessions: the sessions collector is skipped (it needs PROCESS) or fails'),

        g.timeseries(
          'Connections by client host',
          u.fold(|||
            Processlist connections per instance and client host (port stripped; top hosts, the
            rest as 'other'). One host far above the others is the application server or worker
            to inspect (restart its leaking process for immediate relief).
          |||),
          g.pos(12, 46, 12, 8),
          [g.target('sum by (%(srv)s, client_host) (mysql_info_schema_processlist_processes_by_host{%(server)s})' % v,
                    '%(at)s {{client_host}}' % v)],
          'short',
        ) + g.noValue('No data: the processlist collector is skipped (it needs PROCESS) or fails'),

        g.row("The app's view (OpenTelemetry)", 54),

        g.stat(
          "The app's pool, as the app counts it",
          u.fold(|||
            The application's own count of its pool: connections checked out (used) and parked in
            the pool (idle), from OpenTelemetry's SQLAlchemy instrumentation (db.client.connections.usage,
            recording rules mysql_pool:app_used_connections and mysql_pool:app_idle_connections).
            The exporter cannot see this side; the app cannot see the server's. Per pool name
            only: the app's metrics do not say which MySQL server it talks to. Empty when the
            app exports nothing under this pool's name: instrument its engine with
            opentelemetry-instrumentation-sqlalchemy and the Prometheus exporter, let Prometheus
            scrape it, and name the pool as the exporter does, with
            create_engine(..., pool_logging_name="<pool>") (pool.name is the pool's logging
            name; the engine's logging_name does not reach it). docs/app-view.md.
          |||),
          g.pos(0, 55, 6, 8),
          [
            g.target('%(appUsed)s{%(pool)s=~"$pool"}' % v, '{{%(pool)s}} used' % v, 'A'),
            g.target('%(appIdle)s{%(pool)s=~"$pool"}' % v, '{{%(pool)s}} idle' % v, 'B'),
          ],
          'short',
          g.steps('blue'),
          decimals=0,
          graphMode='none',
        ) + g.noValue('The app exports no pool metrics under this name: instrument it with opentelemetry-instrumentation-sqlalchemy and set pool_logging_name to the pool name (see the description)'),

        g.timeseries(
          "The app's view beside the server's",
          u.fold(|||
            Per pool name, what the application counts (app: used = checked out, app: idle =
            parked in the pool; dashed; summed over the app's processes, whatever server they
            use) next to what the exporter sees on each server (server: held, open,
            idle_in_transaction, and the most held at once in the sampler's window, which
            catches a pool full between two scrapes). Agreeing ends: app used = server held
            (summed over the instances the app uses). The leak proven from both ends: the app
            says every connection is used while the server says the same sessions sleep idle
            in a transaction. App used above server held: connections held without a
            transaction (see the pool's idle_sessions setting), or to another server; below:
            processes that export nothing, or a pool named otherwise (pool_logging_name must
            equal the exporter's pool name). The app's lines are absent when it exports
            nothing (see the panel to the left).
          |||),
          g.pos(6, 55, 18, 8),
          [
            g.target('%(appUsed)s{%(pool)s=~"$pool"}' % v, '{{%(pool)s}} app: used' % v, 'A'),
            g.target('%(appIdle)s{%(pool)s=~"$pool"}' % v, '{{%(pool)s}} app: idle' % v, 'B'),
            g.target('sum by (%(srvPool)s) (mysql_pool_held_sessions{%(pooled)s})' % v, '%(atPool)s server: held' % v, 'C'),
            g.target('sum by (%(srvPool)s) (mysql_pool_sessions{%(pooled)s})' % v, '%(atPool)s server: open' % v, 'D'),
            g.target(u.expr(|||
              sum by (%(srvPool)s) (mysql_pool_sessions{%(pooled)s, state="idle_in_transaction"})
              or sum by (%(srvPool)s) (0 * mysql_pool_capacity{%(pooled)s})
            ||| % v), '%(atPool)s server: idle_in_transaction' % v, 'E'),
            // The refId tells scripts/dashboard_queries.py that this may be empty: no sampler
            // (--no-collect.sampler, or an exporter from before it).
            g.target('max by (%(srvPool)s) (max_over_time(mysql_pool_held_sessions_max{%(pooled)s}[$__interval]))' % v,
                     '%(atPool)s server: held, most at once' % v,
                     'OPTIONAL_SAMPLER'),
          ],
          'short',
          overrides=g.stateColors + [{
            matcher: { id: 'byRegexp', options: '.* app: .*' },
            properties: [
              { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
              { id: 'custom.lineWidth', value: 2 },
            ],
          }],
        ) + g.noValue('No pool: pick one in the Pool variable, or declare pools in the exporter config (pools:)'),

        g.row('Alerts', 63),

        common.firingAlerts(g.pos(0, 64, 24, 8)),
      ],
    ),
  },
}
