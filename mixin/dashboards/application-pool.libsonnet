// Drill-down into one application pool: near exhaustion? leak, slow work or load?
local g = import '../lib/grafana.libsonnet';
local u = import '../lib/utils.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local common = (import 'common.libsonnet')(c),
    local v = common.v {
      // The application's own numbers (OpenTelemetry), per pool name only: see rules.libsonnet.
      appUsed: 'mysql_pool:app_used_connections',
      appIdle: 'mysql_pool:app_idle_connections',
    },

    'mysql-application-pool.json': common.dashboard(
      'mysql-pool-drilldown',
      'MySQL application pool',
      'Drill-down into one application connection pool: is it near exhaustion, and is it a leak (idle in transaction), slow work or plain load? From mysql_pool_exporter.',
      [
        g.row('Pool capacity', 0),

        g.stat(
          'Pool utilisation',
          u.fold(|||
            Held sessions / capacity of each selected pool, now (held: active, lock_wait,
            idle_in_transaction; a connection parked idle in the pool is free). Orange from %(poolWarnPct)s %%
            (MySQLPoolNearExhaustion), red at %(poolCritPct)s %% (MySQLPoolExhausted): requests wait for a
            connection and fail with 'QueuePool limit of size N overflow M reached'. When red:
            look below whether the sessions are idle_in_transaction (a leak: fix session cleanup,
            e.g. db.session.remove() in background threads; free them with mysql_pool_exporter
            kill-idle after a dry run) or active/lock_wait (slow queries or load: fix the query,
            or add capacity within max_connections).
          ||| % v),
          g.pos(0, 1, 5, 8),
          [g.target('max by (%(pool)s) (mysql_pool_utilization_ratio{%(pooled)s})' % v, '{{%(pool)s}}' % v)],
          'percentunit',
          common.poolSteps,
          decimals=0,
        ),

        g.timeseries(
          'Pool held and open vs capacity',
          u.fold(|||
            Held: sessions that occupy a slot of the application's pool (working, waiting for a
            lock, or idle inside a transaction). Open: every connection the pool has on the
            server, including those parked idle in the pool, which are free (SQLAlchemy keeps up
            to pool_size of them). Capacity: (pool_size + max_overflow) × processes, dashed red.
            When held reaches capacity the application's pool is exhausted: see the states panel
            to learn why. Open at capacity with held low is a healthy pool that was once full.
          |||),
          g.pos(5, 1, 12, 8),
          [
            g.target('sum by (%(instance)s, %(pool)s) (mysql_pool_held_sessions{%(pooled)s})' % v, '{{%(pool)s}} held' % v, 'A'),
            g.target('sum by (%(instance)s, %(pool)s) (mysql_pool_sessions{%(pooled)s})' % v, '{{%(pool)s}} open' % v, 'C'),
            g.target('max by (%(instance)s, %(pool)s) (mysql_pool_capacity{%(pooled)s})' % v, '{{%(pool)s}} capacity' % v, 'B'),
          ],
          'short',
          overrides=[g.limitLine('.* capacity$', 'red')],
        ),

        g.timeseries(
          'Pool utilisation over time',
          u.fold(|||
            Held sessions / capacity per pool with the %(poolWarnPct)s %% and %(poolCritPct)s %% alert thresholds dashed.
            Flat at the top: a leak or a permanently undersized pool; follows traffic: load;
            spiky: slow queries or lock pile-ups.
          ||| % v),
          g.pos(17, 1, 7, 8),
          [g.target('max by (%(instance)s, %(pool)s) (mysql_pool_utilization_ratio{%(pooled)s})' % v,
                    '{{%(instance)s}} {{%(pool)s}}' % v)],
          'percentunit',
          common.poolSteps,
          thresholdsStyle='dashed',
          max=1,
        ),

        g.timeseries(
          'Pool sessions by state',
          u.fold(|||
            What the pool's sessions are doing: active (running a statement), lock_wait (waiting
            for a row lock), idle (in the pool, free), idle_in_transaction (checked out,
            transaction open, nothing running: red, the leak). A red band that only grows is the
            incident pattern: a code path (often a background thread) never releases its
            session. Mostly active/lock_wait at capacity: slow queries or lock contention.
          |||),
          g.pos(0, 9, 12, 8),
          [g.target('sum by (%(pool)s, state) (mysql_pool_sessions{%(pooled)s})' % v, '{{%(pool)s}} {{state}}' % v)],
          'short',
          stacking='normal',
          overrides=g.stateColors,
        ),

        g.timeseries(
          'Fullest client process',
          u.fold(|||
            Sessions held by the pool's fullest client process (from
            performance_schema.session_connect_attrs; no data when performance_schema is off).
            One process far above the others, near pool_size + max_overflow, is the leaking
            worker: restart it to get its connections back now, then fix the leak.
          |||),
          g.pos(12, 9, 6, 8),
          // The refId tells scripts/dashboard_queries.py that this may be empty.
          [g.target('max by (%(instance)s, %(pool)s) (mysql_pool_process_sessions_max{%(pooled)s})' % v,
                    '{{%(pool)s}} fullest process' % v,
                    'OPTIONAL_PERFORMANCE_SCHEMA')],
          'short',
        ),

        g.stat(
          'Pool overcommit',
          u.fold(|||
            Sum of all pools' capacity / max_connections on the instance. Above %(overcommitPct)s %% (red,
            MySQLPoolOvercommitted) the pools may together open more connections than the server
            accepts: lower pool sizes or process counts, or raise max_connections.
          ||| % v),
          g.pos(18, 9, 6, 8),
          [g.target('max by (%(instance)s) (mysql_pool_overcommit_ratio{%(server)s})' % v, '{{%(instance)s}}' % v)],
          'percentunit',
          common.overcommitSteps,
          decimals=0,
        ),

        g.row('Leaks: idle in transaction', 17),

        g.timeseries(
          'Idle-in-transaction sessions',
          u.fold(|||
            Sessions of the pool that sleep with an open transaction. A few for a moment are
            normal; a count that keeps growing is a leak (red from 1 when it lasts: see the age
            panel). Fix: make every code path release its session (commit/rollback and
            db.session.remove(), teardown_appcontext); relief: mysql_pool_exporter kill-idle
            --pool <pool> --idle-in-transaction-older-than 5m, dry run first.
          |||),
          g.pos(0, 18, 8, 8),
          [g.target(u.expr(|||
            sum by (%(instance)s, %(pool)s) (mysql_pool_sessions{%(pooled)s, state="idle_in_transaction"})
            or sum by (%(instance)s, %(pool)s) (0 * mysql_pool_capacity{%(pooled)s})
          ||| % v), '{{%(pool)s}}' % v)],
          'short',
          common.anySessionSteps,
          thresholdsStyle='line',
        ),

        g.timeseries(
          'Oldest idle-in-transaction session',
          u.fold(|||
            Age of the pool's oldest session sleeping with an open transaction (0 if none). Red
            above %(idleSeconds)s s, the MySQLIdleInTransaction threshold. When red: the session holds a
            connection and its row locks; find it with mysql_pool_exporter check (it lists
            session ids, hosts and ages), fix the code path that leaked it, and free it with
            kill-idle after a dry run.
          ||| % v),
          g.pos(8, 18, 8, 8),
          [g.target('max by (%(instance)s, %(pool)s) (mysql_pool_oldest_idle_transaction_seconds{%(pooled)s})' % v,
                    '{{%(instance)s}} {{%(pool)s}}' % v)],
          's',
          common.idleAgeSteps,
          thresholdsStyle='dashed',
        ),

        g.timeseries(
          'Pool sessions past the alert thresholds',
          u.fold(|||
            Sessions of the pool idle in transaction for more than %(idleSeconds)s s (MySQLIdleInTransaction)
            and running or waiting on a lock for more than %(longSeconds)s s (MySQLLongRunningQuery). Red as
            soon as one exists: leaked sessions (fix the release path) or slow statements (find
            them in the processlist, fix the query or the lock contention).
          ||| % v),
          g.pos(16, 18, 8, 8),
          [
            g.target(u.expr(|||
              sum by (%(instance)s, %(pool)s) (mysql_pool_session_age_seconds_count{%(pooled)s, state="idle_in_transaction"})
              - sum by (%(instance)s, %(pool)s) (mysql_pool_session_age_seconds_bucket{%(pooled)s, state="idle_in_transaction", le="%(idleSeconds)s"})
              or sum by (%(instance)s, %(pool)s) (0 * mysql_pool_capacity{%(pooled)s})
            ||| % v), '{{%(pool)s}} idle in transaction > %(idleSeconds)s s' % v, 'A'),
            g.target(u.expr(|||
              sum by (%(instance)s, %(pool)s) (mysql_pool_session_age_seconds_count{%(pooled)s, state=~"active|lock_wait"})
              - sum by (%(instance)s, %(pool)s) (mysql_pool_session_age_seconds_bucket{%(pooled)s, state=~"active|lock_wait", le="%(longSeconds)s"})
              or sum by (%(instance)s, %(pool)s) (0 * mysql_pool_capacity{%(pooled)s})
            ||| % v), '{{%(pool)s}} running > %(longSeconds)s s' % v, 'B'),
          ],
          'short',
          common.anySessionSteps,
          thresholdsStyle='line',
        ),

        g.heatmap(
          'Pool session age distribution',
          u.fold(|||
            How long the pool's current sessions have been in their state (query age for active,
            idle time for idle, transaction age for idle_in_transaction), from
            mysql_pool_session_age_seconds (a snapshot, so no rate()). A band that climbs the axis
            over time is a set of sessions never returned: compare with 'Oldest idle-in-transaction
            session'.
          |||),
          g.pos(0, 26, 12, 8),
          'sum by (le) (mysql_pool_session_age_seconds_bucket{%(pooled)s})' % v,
        ),

        g.timeseries(
          'Oldest open transaction by MySQL user',
          u.fold(|||
            Age of each MySQL user's oldest open InnoDB transaction (all pools of that account).
            Red above %(idleSeconds)s s (MySQLIdleInTransaction threshold). Long transactions hold row locks
            and block purge; if the user belongs to this pool, the panel to the left shows whether
            it is idle (leak) or running (slow statement).
          ||| % v),
          g.pos(12, 26, 12, 8),
          [g.target('max by (%(instance)s, mysql_user) (mysql_oldest_transaction_seconds{%(server)s})' % v,
                    '{{%(instance)s}} {{mysql_user}}' % v)],
          's',
          common.idleAgeSteps,
          thresholdsStyle='dashed',
        ),

        g.row('Lock chains', 34),

        g.timeseries(
          'Sessions waiting for row locks',
          u.fold(|||
            Sessions waiting for a row lock now, server-wide. A plateau is a lock chain: one
            session holds what the others wait for (often idle in a transaction), and InnoDB
            fails the waiters after innodb_lock_wait_timeout (50 s by default).
          |||),
          g.pos(0, 35, 12, 8),
          [g.target('sum by (%(instance)s) (mysql_lock_waiting_sessions{%(server)s})' % v, '{{%(instance)s}}' % v)],
          'short',
        ),

        g.timeseries(
          'Root blockers: sessions behind them',
          u.fold(|||
            Per MySQL user and client host of a root blocker (a session that holds locks others
            wait for and waits for none): how many sessions wait behind it, directly or queued.
            MySQLLockWaitChain fires when they have waited more than %(lockSeconds)s s; mysql_pool_exporter
            check names the blocking session. Empty when nothing waits.
          ||| % v),
          g.pos(12, 35, 12, 8),
          // The refId tells scripts/dashboard_queries.py that this may be empty.
          [g.target('max by (mysql_user, client_host) (mysql_lock_root_blocker_waiters{%(server)s})' % v,
                    '{{mysql_user}}@{{client_host}}',
                    'OPTIONAL_LOCK_CHAIN')],
          'short',
        ),

        g.row('Who holds the connections', 43),

        g.timeseries(
          'Sessions by MySQL user and state',
          u.fold(|||
            Server-wide sessions per MySQL account and state (top users; the rest summed as
            'other'). Use it to tell whether the pool's account is the one filling the server, and
            which state dominates (idle_in_transaction: leak; active/lock_wait: slow work).
          |||),
          g.pos(0, 44, 12, 8),
          [g.target('sum by (mysql_user, state) (mysql_sessions{%(server)s})' % v, '{{mysql_user}} {{state}}')],
          'short',
          stacking='normal',
        ),

        g.timeseries(
          'Connections by client host',
          u.fold(|||
            Processlist connections per client host (port stripped; top hosts, the rest as
            'other'). One host far above the others is the application server or worker to
            inspect (restart its leaking process for immediate relief).
          |||),
          g.pos(12, 44, 12, 8),
          [g.target('sum by (client_host) (mysql_info_schema_processlist_processes_by_host{%(server)s})' % v, '{{client_host}}')],
          'short',
          stacking='normal',
        ),

        g.row("The app's view (OpenTelemetry)", 52),

        g.stat(
          "The app's pool, as the app counts it",
          u.fold(|||
            The application's own count of its pool: connections checked out (used) and parked in
            the pool (idle), from OpenTelemetry's SQLAlchemy instrumentation (db.client.connections.usage,
            recording rules mysql_pool:app_used_connections and mysql_pool:app_idle_connections).
            The exporter cannot see this side; the app cannot see the server's. Empty when the
            app exports nothing under this pool's name: instrument its engine with
            opentelemetry-instrumentation-sqlalchemy and the Prometheus exporter, let Prometheus
            scrape it, and name the pool as the exporter does, with
            create_engine(..., pool_logging_name="<pool>") (pool.name is the pool's logging
            name; the engine's logging_name does not reach it). docs/app-view.md.
          |||),
          g.pos(0, 53, 6, 8),
          [
            g.target('%(appUsed)s{%(pool)s=~"$pool"}' % v, '{{%(pool)s}} used' % v, 'A'),
            g.target('%(appIdle)s{%(pool)s=~"$pool"}' % v, '{{%(pool)s}} idle' % v, 'B'),
          ],
          'short',
          g.steps('blue'),
          decimals=0,
          graphMode='none',
        ) {
          fieldConfig+: {
            defaults+: {
              noValue: 'The app exports no pool metrics under this name: instrument it with opentelemetry-instrumentation-sqlalchemy and set pool_logging_name to the pool name (see the description)',
            },
          },
        },

        g.timeseries(
          "The app's view beside the server's",
          u.fold(|||
            Per pool name, what the application counts (app: used = checked out, app: idle =
            parked in the pool; dashed) next to what the exporter sees on the server (server:
            held, open, idle_in_transaction, and the most held in the sampler's window, which
            catches a pool full between two scrapes). Agreeing ends: app used = server held. The
            leak proven from both ends: the app says every connection is used while the server
            says the same sessions sleep idle in a transaction. App used above server held:
            connections held without a transaction (see the pool's idle_sessions setting), or
            to another server; below: processes that export nothing, or a pool named otherwise
            (pool_logging_name must equal the exporter's pool name). The app's lines are absent
            when it exports nothing (see the panel to the left).
          |||),
          g.pos(6, 53, 18, 8),
          [
            g.target('%(appUsed)s{%(pool)s=~"$pool"}' % v, '{{%(pool)s}} app: used' % v, 'A'),
            g.target('%(appIdle)s{%(pool)s=~"$pool"}' % v, '{{%(pool)s}} app: idle' % v, 'B'),
            g.target('sum by (%(pool)s) (mysql_pool_held_sessions{%(pooled)s})' % v, '{{%(pool)s}} server: held' % v, 'C'),
            g.target('sum by (%(pool)s) (mysql_pool_sessions{%(pooled)s})' % v, '{{%(pool)s}} server: open' % v, 'D'),
            g.target(u.expr(|||
              sum by (%(pool)s) (mysql_pool_sessions{%(pooled)s, state="idle_in_transaction"})
              or sum by (%(pool)s) (0 * mysql_pool_capacity{%(pooled)s})
            ||| % v), '{{%(pool)s}} server: idle_in_transaction' % v, 'E'),
            // The refId tells scripts/dashboard_queries.py that this may be empty: no sampler
            // (--no-collect.sampler, or an exporter from before it).
            g.target('sum by (%(pool)s) (mysql_pool_held_sessions_max{%(pooled)s})' % v,
                     '{{%(pool)s}} server: held, max of the sampler window' % v,
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
        ),

        g.row('Alerts', 61),

        common.firingAlerts(62),
      ],
    ),
  },
}
