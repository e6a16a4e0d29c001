// The rules file scripts/generate_mixin.sh writes to alerting-rules/: the recording rules
// of prometheusRules followed by the alerts of prometheusAlerts, in ONE group. Rules of a
// group run in order, so the alerts see the recording rules of the same evaluation (in
// production and in `promtool test rules` alike; separate groups are evaluated in an
// unspecified order by promtool, and may lag one evaluation in Prometheus).
//
//   local mixin = (import 'mysql_pool_exporter/mixin.libsonnet') + { _config+:: { ... } };
//   std.manifestYamlDoc((import 'mysql_pool_exporter/lib/rules_file.libsonnet')(mixin))
//
// The hidden `header::` is the explanation scripts/generate_mixin.sh writes at the top of
// the file.
function(mixin, name=mixin._config.ruleGroupName) {
  local c = mixin._config,
  header:: |||
    Recording rules and alerts for mysql_pool_exporter.

    Metric names and labels: docs/metrics.md. Prometheus adds `%(jobLabel)s` and `%(instanceLabel)s`; with
    `/probe?target=NAME` the scrape config sets `%(instanceLabel)s` to the target name.

    Recording rules follow `level:metric:operations`, where the level `mysql` means
    "per MySQL server" (labels %(jobLabel)s, %(instanceLabel)s) and `mysql_pool` means "per application pool"
    (labels %(jobLabel)s, %(instanceLabel)s, %(poolLabel)s).

    Every alert carries `severity` (warning|critical) and the annotations `summary`,
    `description` and `runbook_url`. The runbook URL is always
      %(runbookURLBase)s<alertname>.md
    (runbookURLBase in mixin/config.libsonnet). scripts/test-alerting.sh reads that prefix
    from the mixin and checks that it, the alert name and the runbook file agree.

    The exporter's own `up` series is selected with %(mysqlSelector)s (mysqlSelector in
    mixin/config.libsonnet): adapt it if your scrape job for the exporter has another name.

    One group on purpose: rules of a group run in order, so the alerts below see the recording
    rules of the same evaluation (in production and in `promtool test rules` alike; separate
    groups are evaluated in an unspecified order by promtool).
  ||| % c,
  groups: [{
    name: name,
    rules: [r for g in mixin.prometheusRules.groups for r in g.rules]
           + [r for g in mixin.prometheusAlerts.groups for r in g.rules],
  }],
}
