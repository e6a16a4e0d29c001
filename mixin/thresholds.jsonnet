// The alert thresholds that the exporter's `check` command (config `thresholds:`, see
// examples/config.yml) must agree with, as JSON, from the mixin's _config:
//
//   jsonnet -J mixin mixin/thresholds.jsonnet
//   jsonnet -J mixin --tla-code 'mixin=(import "mixin.libsonnet") + { _config+:: { poolNearExhaustionThreshold: 0.7 } }' mixin/thresholds.jsonnet
//
// Ratios are printed by jsonnet as the exact doubles (0.8 as 0.80000000000000004); any JSON
// parser reads them back as 0.8.
function(mixin=(import 'mixin.libsonnet'))
  local c = mixin._config;
  {
    // MySQLIdleInTransaction: a session idle inside an open transaction for longer.
    idle_in_transaction_seconds: c.idleInTransactionSeconds,
    // MySQLLongRunningQuery: a statement running, or waiting for a row lock, for longer.
    long_query_seconds: c.longQuerySeconds,
    // MySQLLockWaitChain: waiters behind one root blocker for longer.
    lock_wait_seconds: c.lockWaitSeconds,
    // MySQLPoolNearExhaustion (above) and MySQLPoolExhausted (at or above).
    pool_utilization_warning: c.poolNearExhaustionThreshold,
    pool_utilization_critical: c.poolExhaustedThreshold,
    // MySQLConnectionsNearLimit (above) and MySQLConnectionsExhausted (at or above).
    connections_warning: c.connectionsWarning,
    connections_critical: c.connectionsCritical,
    // MySQLUserConnectionsNearLimit: one user's share of its connection limit.
    user_connections_warning: c.userConnectionsWarning,
    // MySQLConnectionChurn: connections one account opens per second.
    connection_churn_warning: c.connectionChurnWarning,
  }
