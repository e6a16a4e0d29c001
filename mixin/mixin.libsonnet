// The mysql_pool_exporter monitoring mixin: recording rules, alerts and Grafana dashboards,
// all built from _config (config.libsonnet). Standard mixin fields:
//   prometheusRules    recording rules   (group mysql_pool_exporter.rules)
//   prometheusAlerts   alerts            (group mysql_pool_exporter.alerts)
//   grafanaDashboards  { 'file name.json': dashboard }
// The alerts read the recording rules: load both in ONE group (lib/rules_file.libsonnet
// does that; see README.md) so that each evaluation sees the rules of the same evaluation.
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
