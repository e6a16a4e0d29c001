// Alerts. Every alert carries `severity` (warning|critical) and the annotations `summary`,
// `description` and `runbook_url` (runbookURLBase + <alertname> + '.md'; one runbook per
// alert in docs/runbooks/). Thresholds and `for:` durations come from _config
// (config.libsonnet), in the expressions and in the texts alike.
//
// The texts are Prometheus templates; this file formats them with jsonnet's `%`, so a
// literal percent sign is written `%%` ("80%%", printf "%%.0f", %%q).
// u.fold() joins the lines of a ||| text with single spaces (what the YAML `>-` of the
// hand-written rules file did); u.expr() keeps an expression's layout.
//
// The hidden `comment::` of an alert is written above it in the generated
// alerting-rules/mysql_pool_exporter.rules.yml; it is not part of the rule.
local u = import '../lib/utils.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,

    // Pieces shared by the texts: label names, the label filters of the queries the
    // templates run, and the recording rules the alerts read.
    local v = {
      job: c.jobLabel,
      instance: c.instanceLabel,
      pool: c.poolLabel,
      server: '%(jobLabel)s, %(instanceLabel)s, %(targetLabel)s' % c,
      // printf "metric{job=%q,instance=%q}" $labels.job $labels.instance
      serverQ: '%(jobLabel)s=%%q,%(instanceLabel)s=%%q' % c,
      serverArgs: '$labels.%(jobLabel)s $labels.%(instanceLabel)s' % c,
      poolQ: '%(jobLabel)s=%%q,%(instanceLabel)s=%%q,%(poolLabel)s=%%q' % c,
      poolArgs: '$labels.%(jobLabel)s $labels.%(instanceLabel)s $labels.%(poolLabel)s' % c,
      idleSeconds: u.num(c.idleInTransactionSeconds),
      idleRecord: 'mysql:sessions:older_than_%ds' % c.idleInTransactionSeconds,
      idlePoolRecord: 'mysql_pool:sessions:older_than_%ds' % c.idleInTransactionSeconds,
      longSeconds: u.num(c.longQuerySeconds),
      longRecord: 'mysql:sessions:older_than_%ds' % c.longQuerySeconds,
      longPoolRecord: 'mysql_pool:sessions:older_than_%ds' % c.longQuerySeconds,
      // _config.exporterSelector on the exporter's own series: `{job="x"}` alone, or
      // `,job="x"` after other matchers; empty when no selector is set.
      sel: if c.exporterSelector == '' then '' else '{%s}' % c.exporterSelector,
      selc: if c.exporterSelector == '' then '' else ',%s' % c.exporterSelector,
    },

    // Every alert links its runbook (runbookURLBase + <alertname> + '.md'), the dashboard
    // that shows it (the pool drill-down when the alert names a pool, else the saturation
    // overview, with job, instance and pool filled in) and the exporter's status page, which
    // names the sessions.
    local dashboardURL = u.fold(|||
      %(grafana)s/d/{{ if $labels.%(pool)s }}mysql-pool-drilldown{{ else }}mysql-pool-saturation{{ end }}?var-job={{ $labels.%(job)s | urlquery }}&var-instance={{ $labels.%(instance)s | urlquery }}{{ if $labels.%(pool)s }}&var-pool={{ $labels.%(pool)s | urlquery }}{{ end }}
    ||| % { grafana: c.grafanaURL, pool: c.poolLabel, job: c.jobLabel, instance: c.instanceLabel }),
    local withRunbook(rule) = rule {
      annotations+: {
        runbook_url: c.runbookURLBase + rule.alert + '.md',
        dashboard_url: dashboardURL,
        status_page_url: c.statusPageURL,
      },
    },

    // What the two pool alerts say about the pool: held sessions, capacity, open sessions,
    // sessions by state. Held: active, lock_wait, idle_in_transaction (a connection parked
    // idle in the app's pool is open but free; see docs/metrics.md).
    local poolSessions = |||
      {{ with printf "mysql_pool_held_sessions{%(poolQ)s}" %(poolArgs)s | query }}{{ . | first | value }}{{ else }}?{{ end }}
    ||| % v,
    local poolOpen = |||
      {{ with printf "sum(mysql_pool_sessions{%(poolQ)s})" %(poolArgs)s | query }}{{ . | first | value }}{{ else }}?{{ end }}
    ||| % v,
    local poolCapacity = |||
      {{ with printf "mysql_pool_capacity{%(poolQ)s}" %(poolArgs)s | query }}{{ . | first | value }}{{ else }}?{{ end }}
    ||| % v,
    local poolByState = |||
      Sessions by state:{{ range printf "mysql_pool_sessions{%(poolQ)s}" %(poolArgs)s | query | sortByLabel "state" }}
      {{ .Labels.state }}={{ .Value }}{{ end }}. Many idle_in_transaction sessions
      mean a leak, many active or lock_wait sessions mean load or slow queries.
    ||| % v,

    // One sample never fires an alert: every `for:` spans two evaluations or more.
    local twoEvaluations(rule) =
      assert std.objectHas(rule, 'for') && u.seconds(rule['for']) >= 2 * u.seconds(c.ruleInterval) :
             '%s: for: %s is less than two evaluations of ruleInterval %s' % [rule.alert, if std.objectHas(rule, 'for') then rule['for'] else 'none', c.ruleInterval];
      rule,

    groups+: [
      {
        name: 'mysql_pool_exporter.alerts',
        rules: std.map(function(r) withRunbook(twoEvaluations(r)), [
          // ---------------------------------------------------------------- server
          {
            comment:: |||
              ================================================================ alerts
              ---------------------------------------------------------------- server
            |||,
            alert: 'MySQLDown',
            expr: 'mysql_up%(sel)s == 0' % v,
            'for': c.mysqlDownFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'MySQL {{ $labels.%(instance)s }} is down' % v,
              description: u.fold(|||
                The exporter has not been able to query MySQL {{ $labels.%(instance)s }}
                (job {{ $labels.%(job)s }}) for more than %(for)s (mysql_up = 0). The exporter keeps
                one persistent connection, so this means the server is stopped, unreachable or
                refusing the exporter's account, not merely full. Every other alert of this
                instance is inhibited while this one fires.
              ||| % v { 'for': u.humanDuration(c.mysqlDownFor) }),
            },
          },

          {
            alert: 'MySQLConnectionsNearLimit',
            expr: 'mysql:connections:saturation_ratio > %s' % u.num(c.connectionsWarning),
            'for': c.connectionsNearLimitFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'MySQL {{ $labels.%(instance)s }} uses {{ $value | humanizePercentage }} of max_connections' % v,
              description: u.fold(|||
                {{ with printf "mysql_global_status_threads_connected{%(serverQ)s}" %(serverArgs)s | query }}{{ . | first | value }}{{ else }}?{{ end }}
                of {{ with printf "mysql_global_variables_max_connections{%(serverQ)s}" %(serverArgs)s | query }}{{ . | first | value }}{{ else }}?{{ end }}
                allowed connections ({{ $value | humanizePercentage }}) are open on
                {{ $labels.%(instance)s }}, above %(pct)s%% for %(for)s. At 100%% the server refuses new
                connections with "Too many connections".
              ||| % v { pct: u.pct(c.connectionsWarning), 'for': u.humanDuration(c.connectionsNearLimitFor) }),
            },
          },

          local exhausted = v {
            critical: u.num(c.connectionsCritical),
            window: c.connectionsRefusedWindow,
            windowText: u.humanDuration(c.connectionsRefusedWindow),
          };
          {
            comment:: |||
              Either (almost) every connection slot is taken, or the server has refused
              connections for max_connections all through the last %(windowText)s (a refusal within
              every two minutes, checked each minute): a single refusal (a burst of logins) does
              not page. The value is the saturation ratio or 1,
              so the description queries both.
            ||| % exhausted,
            alert: 'MySQLConnectionsExhausted',
            expr: u.expr(|||
              mysql:connections:saturation_ratio >= %(critical)s
              or on (%(server)s)
              min_over_time(
                (
                  sum by (%(server)s) (
                    increase(mysql_global_status_connection_errors_total{error="max_connections"%(selc)s}[2m])
                  ) > bool 0
                )[%(window)s:1m]
              ) == 1
            ||| % exhausted),
            'for': c.connectionsExhaustedFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'MySQL {{ $labels.%(instance)s }} is out of connections' % v,
              description: u.fold(|||
                MySQL {{ $labels.%(instance)s }} is at max_connections:
                {{ with printf "mysql:connections:saturation_ratio{%(serverQ)s}" %(serverArgs)s | query }}{{ . | first | value | humanizePercentage }}{{ else }}an unknown share{{ end }}
                of the allowed connections are open and
                {{ with printf "sum(increase(mysql_global_status_connection_errors_total{error=\"max_connections\",%(serverQ)s}[%(window)s]))" %(serverArgs)s | query }}{{ . | first | value | printf "%%.0f" }}{{ else }}0{{ end }}
                connection(s) were refused with "Too many connections" in the last %(windowText)s.
                Applications cannot open new connections.
              ||| % exhausted),
            },
          },

          {
            alert: 'MySQLUserConnectionsNearLimit',
            expr: u.expr(|||
              mysql_info_schema_processlist_processes_by_user{mysql_user!="other"%(selc)s}
              / on (%(server)s) group_left ()
              (mysql_global_variables_max_user_connections%(sel)s > 0)
              > %(threshold)s
            ||| % v { threshold: u.num(c.userConnectionsWarning) }),
            'for': c.userConnectionsNearLimitFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'User {{ $labels.mysql_user }} uses {{ $value | humanizePercentage }} of max_user_connections on {{ $labels.%(instance)s }}' % v,
              description: u.fold(|||
                MySQL user {{ $labels.mysql_user }} has
                {{ with printf "mysql_info_schema_processlist_processes_by_user{%(serverQ)s,mysql_user=%%q}" %(serverArgs)s $labels.mysql_user | query }}{{ . | first | value }}{{ else }}?{{ end }}
                sessions on {{ $labels.%(instance)s }}, {{ $value | humanizePercentage }} of
                max_user_connections
                ({{ with printf "mysql_global_variables_max_user_connections{%(serverQ)s}" %(serverArgs)s | query }}{{ . | first | value }}{{ else }}?{{ end }}),
                above %(pct)s%% for %(for)s. At the limit the server refuses this user's new
                connections (error 1203) while other users still get in.
              ||| % v { pct: u.pct(c.userConnectionsWarning), 'for': u.humanDuration(c.userConnectionsNearLimitFor) }),
            },
          },

          local aborted = v {
            window: c.abortedConnectsWindow,
            windowText: u.humanDuration(c.abortedConnectsWindow),
            ratio: u.num(c.abortedConnectsRatio),
            rate: u.num(c.abortedConnectsPerSecond),
            pct: u.pct(c.abortedConnectsRatio),
            'for': u.humanDuration(c.abortedConnectionsFor),
          };
          {
            alert: 'MySQLAbortedConnectionsHigh',
            expr: u.expr(|||
              (
                rate(mysql_global_status_aborted_connects%(sel)s[%(window)s])
                / on (%(server)s)
                rate(mysql_global_status_connections%(sel)s[%(window)s])
              ) > %(ratio)s
              and on (%(server)s)
              rate(mysql_global_status_aborted_connects%(sel)s[%(window)s]) > %(rate)s
            ||| % aborted),
            'for': c.abortedConnectionsFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: '{{ $value | humanizePercentage }} of connection attempts to MySQL {{ $labels.%(instance)s }} fail' % v,
              description: u.fold(|||
                {{ $value | humanizePercentage }} of the connection attempts to
                {{ $labels.%(instance)s }} in the last %(windowText)s were aborted
                ({{ with printf "rate(mysql_global_status_aborted_connects{%(serverQ)s}[%(window)s])" %(serverArgs)s | query }}{{ . | first | value | printf "%%.2f" }}{{ else }}?{{ end }}
                per second), above %(pct)s%% for %(for)s. Usual causes: wrong password or missing
                grants, connect_timeout, max_connections, clients dropping during the handshake.
                mysql_global_status_connection_errors_total by error tells which.
              ||| % aborted),
            },
          },

          local churn = v {
            rate: u.num(c.connectionChurnWarning),
            'for': u.humanDuration(c.connectionChurnFor),
          };
          {
            comment:: |||
              An account that opens connections faster than this for a while connects per request (no
              pool, or one recycled too fast): each login costs the server a thread and an
              authentication, and such apps are the first to fail when the server is full.
            |||,
            alert: 'MySQLConnectionChurn',
            expr: u.expr(|||
              sum by (%(server)s, mysql_user, client_host) (
                rate(mysql_account_connections_total{mysql_user!="other"%(selc)s}[5m])
              ) > %(rate)s
            ||| % churn),
            'for': c.connectionChurnFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Account {{ $labels.mysql_user }}@{{ $labels.client_host }} opens {{ $value | printf "%%.0f" }} connections a second on MySQL {{ $labels.%(instance)s }}' % v,
              description: u.fold(|||
                MySQL account {{ $labels.mysql_user }}@{{ $labels.client_host }} has opened
                {{ $value | printf "%%.1f" }} connections per second on {{ $labels.%(instance)s }}
                (5-minute rate), above %(rate)s, for %(for)s, while it holds
                {{ with printf "mysql_account_current_connections{%(serverQ)s,mysql_user=%%q,client_host=%%q}" %(serverArgs)s $labels.mysql_user $labels.client_host | query }}{{ . | first | value }}{{ else }}?{{ end }}
                open now: it connects per request instead of keeping a pool, or recycles its pool
                too fast (pool_recycle, pool_pre_ping failures).
              ||| % churn),
            },
          },

          local threads = v {
            threshold: u.num(c.threadsRunningHigh),
            'for': u.humanDuration(c.threadsRunningHighFor),
          };
          {
            comment:: |||
              %(threshold)s concurrently executing statements is past what most servers (8-32 cores) run
              efficiently; tune to about twice the core count of your database host.
            ||| % threads,
            alert: 'MySQLThreadsRunningHigh',
            expr: 'mysql:threads_running:avg5m > %(threshold)s' % threads,
            'for': c.threadsRunningHighFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: '{{ $value | printf "%%.0f" }} statements running at once on MySQL {{ $labels.%(instance)s }}' % v,
              description: u.fold(|||
                MySQL {{ $labels.%(instance)s }} has been executing on average
                {{ $value | printf "%%.1f" }} statements at once over 5 minutes, above %(threshold)s, for
                %(for)s. The server is saturated: statements slow down and hold pool
                connections longer, so pools fill up from load, not from a leak.
              ||| % threads),
            },
          },

          // ----------------------------------------------------------------- pools
          {
            comment:: '----------------------------------------------------------------- pools',
            alert: 'MySQLPoolNearExhaustion',
            expr: 'mysql_pool_utilization_ratio%s > %s' % [v.sel, u.num(c.poolNearExhaustionThreshold)],
            'for': c.poolNearExhaustionFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Pool {{ $labels.%(pool)s }} on {{ $labels.%(instance)s }} is {{ $value | humanizePercentage }} full' % v,
              description: u.fold(|||
                Application pool {{ $labels.%(pool)s }} holds
                %(poolSessions)s
                of its
                %(poolCapacity)s
                connections on {{ $labels.%(instance)s }} ({{ $value | humanizePercentage }}; %(poolOpen)s
                open, idle ones parked in the pool included), above %(pct)s%% for %(for)s. %(poolByState)s
              ||| % v {
                pct: u.pct(c.poolNearExhaustionThreshold),
                'for': u.humanDuration(c.poolNearExhaustionFor),
                poolSessions: poolSessions,
                poolOpen: poolOpen,
                poolCapacity: poolCapacity,
                poolByState: poolByState,
              }),
            },
          },

          {
            alert: 'MySQLPoolExhausted',
            expr: 'mysql_pool_utilization_ratio%s >= %s' % [v.sel, u.num(c.poolExhaustedThreshold)],
            'for': c.poolExhaustedFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Pool {{ $labels.%(pool)s }} on {{ $labels.%(instance)s }} is exhausted ({{ $value | humanizePercentage }})' % v,
              description: u.fold(|||
                Application pool {{ $labels.%(pool)s }} holds
                %(poolSessions)s
                of its
                %(poolCapacity)s
                connections on {{ $labels.%(instance)s }} ({{ $value | humanizePercentage }})
                for %(for)s: none is parked free in the pool, so requests wait for a connection
                and fail after pool_timeout ("QueuePool limit ... reached"). %(poolByState)s
              ||| % v {
                'for': u.humanDuration(c.poolExhaustedFor),
                poolSessions: poolSessions,
                poolCapacity: poolCapacity,
                poolByState: poolByState,
              }),
            },
          },

          local burst = v {
            min: u.num(c.poolFullMinSeconds),
            window: '{{ with printf "mysql_exporter_sampler_window_seconds{%(serverQ)s}" %(serverArgs)s | query }}{{ . | first | value | humanizeDuration }}{{ else }}window{{ end }}' % v,
          };
          {
            comment:: |||
              The sampler reads the pools every second and keeps their last spell at capacity for
              its window (60 s by default), so a pool full for a few seconds between two scrapes
              fires here; a spell shorter than %(min)s s is a blip. It resolves about one window after
              the burst.
            ||| % burst,
            alert: 'MySQLPoolFullBetweenScrapes',
            // Not while the scrapes see it full too: then MySQLPoolExhausted says it.
            expr: u.expr(|||
              mysql_pool_full_seconds%(sel)s >= %(min)s
              unless on (%(server)s, %(pool)s)
              mysql_pool_utilization_ratio%(sel)s >= 1
            ||| % burst),
            'for': c.poolFullBetweenScrapesFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Pool {{ $labels.%(pool)s }} on {{ $labels.%(instance)s }} reached its capacity between scrapes' % v,
              description: u.fold(|||
                Application pool {{ $labels.%(pool)s }} on {{ $labels.%(instance)s }} held all of its
                {{ with printf "mysql_pool_capacity{%(poolQ)s}" %(poolArgs)s | query }}{{ . | first | value }}{{ else }}?{{ end }}
                connections for {{ $value | humanizeDuration }} within the last %(window)s, as the
                exporter's once-a-second sampler saw it; it holds
                %(poolSessions)s
                now. While a pool is full, requests wait for a connection and those that wait past
                the app's pool_timeout fail ("QueuePool limit ... reached"). `check --exporter`
                and the status page say when and for how long.
              ||| % burst { poolSessions: poolSessions }),
            },
          },

          local process = v { 'for': u.humanDuration(c.poolProcessExhaustedFor) };
          {
            comment:: |||
              One client process of the pool holds every connection its own pool allows (size +
              max_overflow; held as mysql_pool_held_sessions counts it, connections parked idle in
              the process's pool left out): its requests time out while the pool-wide ratio, spread
              over every process, may read 25 %% (gunicorn -w 4 with one worker leaking). Needs the
              connect attribute _pid (performance_schema.session_connect_attrs).
            |||,
            alert: 'MySQLPoolProcessExhausted',
            // Not when the whole pool is exhausted (one process, or all of them): then
            // MySQLPoolExhausted pages for it.
            expr: u.expr(|||
              mysql_pool_process_held_sessions_max%(sel)s
              / on (%(server)s, %(pool)s)
              (mysql_pool_process_capacity%(sel)s > 0)
              >= 1
              unless on (%(server)s, %(pool)s)
              mysql_pool_utilization_ratio%(sel)s >= 1
            ||| % v),
            'for': c.poolProcessExhaustedFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'One process of pool {{ $labels.%(pool)s }} on {{ $labels.%(instance)s }} has exhausted its own pool' % v,
              description: u.fold(|||
                The most held client process of pool {{ $labels.%(pool)s }} holds
                {{ with printf "mysql_pool_process_held_sessions_max{%(poolQ)s}" %(poolArgs)s | query }}{{ . | first | value }}{{ else }}?{{ end }}
                sessions on {{ $labels.%(instance)s }}, all that one process's pool may open
                ({{ with printf "mysql_pool_process_capacity{%(poolQ)s}" %(poolArgs)s | query }}{{ . | first | value }}{{ else }}?{{ end }},
                size + max_overflow), for %(for)s: that process's requests wait for a connection
                and fail after pool_timeout, whatever the pool-wide utilisation
                ({{ with printf "mysql_pool_utilization_ratio{%(poolQ)s}" %(poolArgs)s | query }}{{ . | first | value | humanizePercentage }}{{ else }}?{{ end }}).
                The status page and `check` name its sessions.
              ||| % process),
            },
          },

          local predict = v {
            window: c.leakPredictWindow,
            horizon: c.leakPredictHorizon,
            horizonSeconds: '%d' % u.seconds(c.leakPredictHorizon),
            windowText: u.humanDuration(c.leakPredictWindow),
            horizonText: u.humanDuration(c.leakPredictHorizon),
            'for': u.humanDuration(c.leakPredictedFor),
          };
          {
            comment:: |||
              A slow leak: the pool's sessions idle in a transaction for more than %(idleSeconds)s s
              grow, and at the pace of the last %(windowText)s they reach the pool's capacity within
              %(horizonText)s. It pages before the app times out; once the pool is exhausted
              MySQLPoolExhausted takes over.
            ||| % predict,
            alert: 'MySQLPoolLeakPredicted',
            expr: u.expr(|||
              predict_linear(%(idlePoolRecord)s{state="idle_in_transaction"%(selc)s}[%(window)s], %(horizonSeconds)s)
              >= on (%(server)s, %(pool)s) group_left ()
              (mysql_pool_capacity%(sel)s > 0)
              and on (%(server)s, %(pool)s)
              deriv(%(idlePoolRecord)s{state="idle_in_transaction"%(selc)s}[%(window)s]) > 0
              and on (%(server)s, %(pool)s)
              %(idlePoolRecord)s{state="idle_in_transaction"%(selc)s} > 0
              unless on (%(server)s, %(pool)s)
              mysql_pool_utilization_ratio%(sel)s >= 1
            ||| % predict),
            'for': c.leakPredictedFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Pool {{ $labels.%(pool)s }} on {{ $labels.%(instance)s }} leaks toward exhaustion' % v,
              description: u.fold(|||
                Pool {{ $labels.%(pool)s }} on {{ $labels.%(instance)s }} has
                {{ with printf "%(idlePoolRecord)s{%(poolQ)s,state=\"idle_in_transaction\"}" %(poolArgs)s | query }}{{ . | first | value }}{{ else }}some{{ end }}
                session(s) idle in a transaction for more than %(idleSeconds)s s, and their number has
                grown for %(for)s: at the pace of the last %(windowText)s it reaches the pool's
                capacity (%(poolCapacity)s) within %(horizonText)s, when requests start to time out
                ("QueuePool limit ... reached"). A session checked out and never returned (a missing
                db.session.remove()). Dry run: mysql_pool_exporter kill-idle --pool {{ $labels.%(pool)s }}
                --idle-in-transaction-older-than 5m.
              ||| % predict { poolCapacity: std.stripChars(poolCapacity, '\n') }),
            },
          },

          {
            alert: 'MySQLPoolOvercommitted',
            expr: 'mysql_pool_overcommit_ratio%s > %s' % [v.sel, u.num(c.poolOvercommitThreshold)],
            'for': c.poolOvercommittedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Pools on MySQL {{ $labels.%(instance)s }} may open {{ $value | humanizePercentage }} of max_connections' % v,
              description: u.fold(|||
                The pools configured for {{ $labels.%(instance)s }} may open
                {{ with printf "sum(mysql_pool_capacity{%(serverQ)s})" %(serverArgs)s | query }}{{ . | first | value }}{{ else }}?{{ end }}
                connections, {{ $value | humanizePercentage }} of max_connections
                ({{ with printf "mysql_global_variables_max_connections{%(serverQ)s}" %(serverArgs)s | query }}{{ . | first | value }}{{ else }}?{{ end }}).
                Under full load, or with one leaking application, the server refuses
                connections before the pools are full.
              ||| % v),
            },
          },

          // -------------------------------------------------------------- sessions
          {
            comment:: |||
              -------------------------------------------------------------- sessions
              Two kinds of series, told apart by the `%(pool)s` label:
              - per pool (%(job)s, %(instance)s, %(pool)s; value = age of the oldest idle transaction in
                seconds): the leak signature of the incident, a background thread that never
                called db.session.remove();
              - per server (%(job)s, %(instance)s; value = number of sessions): sessions that belong to
                no configured pool (a console, a cron script). Instance-wide count minus what the
                pools account for; if the server has no pool series at all, the whole count.
            ||| % v,
            alert: 'MySQLIdleInTransaction',
            expr: u.expr(|||
              mysql_pool_oldest_idle_transaction_seconds%(sel)s > %(idleSeconds)s
              or
              (
                %(idleRecord)s{state="idle_in_transaction"}
                - on (%(server)s)
                sum by (%(server)s) (%(idlePoolRecord)s{state="idle_in_transaction"})
              ) > 0
              or
              (
                sum by (%(server)s) (%(idleRecord)s{state="idle_in_transaction"}) > 0
                unless on (%(server)s)
                %(idlePoolRecord)s{state="idle_in_transaction"}
              )
            ||| % v),
            'for': c.idleInTransactionFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: u.fold(|||
                {{ if $labels.%(pool)s }}Pool {{ $labels.%(pool)s }} on {{ $labels.%(instance)s }} has a transaction idle for {{ $value | humanizeDuration }}{{ else }}{{ $value | printf "%%.0f" }} session(s) outside the pools idle in transaction on {{ $labels.%(instance)s }}{{ end }}
              ||| % v),
              description: u.fold(|||
                {{ if $labels.%(pool)s }}{{ with printf "%(idlePoolRecord)s{%(poolQ)s,state=\"idle_in_transaction\"}" %(poolArgs)s | query }}{{ . | first | value }}{{ else }}Some{{ end }}
                session(s) of pool {{ $labels.%(pool)s }} on {{ $labels.%(instance)s }} sit idle (Sleep)
                inside an open transaction for more than %(idleSeconds)s s; the oldest for
                {{ $value | humanizeDuration }}. The application checked these connections out
                and never committed, rolled back or returned them (a missing
                db.session.remove()); they hold row locks and block purge. Dry run:
                mysql_pool_exporter kill-idle --pool {{ $labels.%(pool)s }} --idle-in-transaction-older-than 5m{{ else }}{{ $value | printf "%%.0f" }}
                session(s) on {{ $labels.%(instance)s }} that belong to no configured pool sit idle
                (Sleep) inside an open transaction for more than %(idleSeconds)s s; they hold row locks and
                block purge. Users with a transaction open for more than %(idleSeconds)s s:{{ range printf "mysql_oldest_transaction_seconds{%(serverQ)s} > %(idleSeconds)s" %(serverArgs)s | query | sortByLabel "mysql_user" }}
                {{ .Labels.mysql_user }} ({{ .Value | humanizeDuration }}){{ else }} unknown{{ end }}.{{ end }}
              ||| % v),
            },
          },

          local lock = v {
            lockSeconds: u.num(c.lockWaitSeconds),
            'for': u.humanDuration(c.lockWaitChainFor),
          };
          {
            comment:: |||
              A root blocker (a session that holds a lock and waits for none) with sessions
              queued behind it for more than %(lockSeconds)s s, for any kind of lock (label
              `lock`: row, metadata, global_read, backup, flush, table, user). InnoDB gives up
              a row-lock wait at innodb_lock_wait_timeout (50 s by default) and a metadata-lock
              wait lasts lock_wait_timeout (a year by default), so a query-age alert could not
              name the blocker in time; this one does.
            ||| % lock,
            alert: 'MySQLLockWaitChain',
            expr: 'mysql_lock_root_blocker_wait_seconds%(sel)s > %(lockSeconds)s' % lock,
            'for': c.lockWaitChainFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: u.fold(|||
                {{ $labels.mysql_user }}@{{ $labels.client_host }} blocks {{ with printf "mysql_lock_root_blocker_waiters{%(serverQ)s,mysql_user=%%q,client_host=%%q,lock=%%q}" %(serverArgs)s $labels.mysql_user $labels.client_host $labels.lock | query }}{{ . | first | value | printf "%%.0f" }}{{ else }}some{{ end }} session(s) on {{ $labels.%(instance)s }} ({{ $labels.lock }} lock)
              ||| % lock),
              description: u.fold(|||
                A session of {{ $labels.mysql_user }}@{{ $labels.client_host }} on
                {{ $labels.%(instance)s }} holds a {{ $labels.lock }} lock that
                {{ with printf "mysql_lock_root_blocker_waiters{%(serverQ)s,mysql_user=%%q,client_host=%%q,lock=%%q}" %(serverArgs)s $labels.mysql_user $labels.client_host $labels.lock | query }}{{ . | first | value | printf "%%.0f" }}{{ else }}some{{ end }}
                session(s) wait for, directly or queued behind each other (a metadata lock:
                queries queued behind a schema change that waits for it); the longest has
                waited {{ $value | humanizeDuration }} (more than %(lockSeconds)s s, for %(for)s).
                The waiters hold their pool connections. `mysql_pool_exporter check` names the
                lock, the object, the statement at the head of the queue and the blocking
                session (often idle in a transaction: a leak); kill-idle --root-blockers can
                end it.
              ||| % lock),
            },
          },

          local long = v { 'for': u.humanDuration(c.longRunningQueryFor) };
          {
            comment:: |||
              Statements running (state active) or waiting for a row lock (state lock_wait) for
              more than %(longSeconds)s s, one alert per state.
            ||| % v,
            alert: 'MySQLLongRunningQuery',
            // With longQueryExcludedUsers, only when some other user's statement is that old
            // (the count still includes every user's).
            expr: if c.longQueryExcludedUsers == '' then
              '%(longRecord)s{state=~"active|lock_wait"} > 0' % v
            else u.expr(|||
              %(longRecord)s{state=~"active|lock_wait"} > 0
              and on (%(server)s, state)
              max by (%(server)s, state) (
                mysql_oldest_statement_seconds{mysql_user!~"%(excluded)s"%(selc)s}
              ) > %(longSeconds)s
            ||| % v { excluded: c.longQueryExcludedUsers }),
            'for': c.longRunningQueryFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: '{{ $value | printf "%%.0f" }} {{ if eq $labels.state "lock_wait" }}lock wait(s){{ else }}statement(s){{ end }} older than %(longSeconds)ss on MySQL {{ $labels.%(instance)s }}' % v,
              description: u.fold(|||
                {{ $value | printf "%%.0f" }} session(s) on {{ $labels.%(instance)s }} have been
                {{ if eq $labels.state "lock_wait" }}waiting for a row lock{{ else }}running one statement{{ end }}
                for more than %(longSeconds)s s, for %(for)s. They hold their pool connections meanwhile.
                By pool:{{ range printf "%(longPoolRecord)s{%(serverQ)s,state=%%q} > 0" %(serverArgs)s $labels.state | query | sortByLabel "%(pool)s" }}
                {{ .Labels.%(pool)s }}={{ .Value }}{{ else }} none (sessions outside the configured pools){{ end }}.
              ||| % long),
            },
          },

          // -------------------------------------------------------------- exporter
          local scrape = v { selector: c.mysqlSelector, 'for': u.humanDuration(c.exporterScrapeFailingFor) };
          {
            comment:: |||
              -------------------------------------------------------------- exporter
              A collector failing this scrape emits none of its series, so the alerts built on
              them go quiet: say so. Collector failures caused by MySQLDown are left out.
            |||,
            alert: 'MySQLExporterScrapeFailing',
            expr: u.expr(|||
              (
                mysql_exporter_collector_success%(sel)s == 0
                unless on (%(server)s)
                mysql_up%(sel)s == 0
              )
              or
              up{%(selector)s} == 0
            ||| % scrape),
            'for': c.exporterScrapeFailingFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: u.fold(|||
                {{ if $labels.collector }}Collector {{ $labels.collector }} of the exporter for {{ $labels.%(instance)s }} is failing{{ else }}Prometheus cannot scrape the exporter for {{ $labels.%(instance)s }}{{ end }}
              ||| % v),
              description: u.fold(|||
                {{ if $labels.collector }}The {{ $labels.collector }} collector for
                {{ $labels.%(instance)s }} (job {{ $labels.%(job)s }}) has failed on every scrape for
                %(for)s, so its series are missing and the alerts built on them cannot fire.
                The exporter log names the failing query (privileges, timeouts).{{ else }}Prometheus
                has not scraped {{ $labels.%(instance)s }} (job {{ $labels.%(job)s }}) for %(for)s
                (up = 0): no MySQL alert of this target can fire.{{ end }}
              ||| % scrape),
            },
          },

          local skipped = v {
            collectors: std.join('|', c.alertCollectors),
            'for': u.humanDuration(c.collectorSkippedFor),
          };
          {
            comment:: |||
              A collector the pool and leak alerts are built on is skipped: the server or the
              exporter's account lacks its source (a revoked PROCESS grant), its series are gone,
              and those alerts cannot fire. The exporter's log says what is missing and the grant.
            |||,
            alert: 'MySQLExporterCollectorSkipped',
            expr: 'mysql_exporter_collector_skipped{collector=~"%(collectors)s"%(selc)s} == 1' % skipped,
            'for': c.collectorSkippedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Collector {{ $labels.collector }} of the exporter for {{ $labels.%(instance)s }} is skipped' % v,
              description: u.fold(|||
                The {{ $labels.collector }} collector for {{ $labels.%(instance)s }} (job
                {{ $labels.%(job)s }}) has been skipped for %(for)s: the server or the exporter's
                account lacks what it reads (usually the PROCESS privilege, or performance_schema),
                so its series are missing and the pool, leak and lock alerts built on them cannot
                fire. The exporter's log says once what is missing and the GRANT that fixes it.
              ||| % skipped),
            },
          },
        ]),
      },
    ],
  },
}
