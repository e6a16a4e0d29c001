// Every file the mixin renders, keyed by its path in the repository, as text: run with
// `jsonnet -S -m DIR` by scripts/generate_mixin.sh. The top-level argument lets
// scripts/test_mixin.sh render an overridden mixin.
function(mixin=(import 'mixin.libsonnet'))
  local rulesFile = (import 'lib/rules_file.libsonnet')(mixin);
  local comment(text, indent) =
    std.join('', [
      indent + std.rstripChars('# ' + l, ' ') + '\n'
      for l in std.split(std.rstripChars(text, '\n'), '\n')
    ]);
  local indented(text, indent) =
    std.join('\n', [if l == '' then l else indent + l for l in std.split(text, '\n')]);
  // One rule at a time, so that each hidden `comment::` can stand above its rule: the
  // YAML itself is std.manifestYamlDoc's.
  local rule(r, first) =
    (if !first && (std.objectHasAll(r, 'comment') || std.objectHas(r, 'alert')) then '\n' else '')
    + (if std.objectHasAll(r, 'comment') then comment(r.comment, '      ') else '')
    + indented(std.manifestYamlDoc([r], quote_keys=false), '      ') + '\n';
  local rulesBody =
    'groups:\n' + std.join('', [
      '  - name: ' + std.escapeStringJson(g.name) + '\n    rules:\n'
      + std.join('', [rule(g.rules[i], i == 0) for i in std.range(0, std.length(g.rules) - 1)])
      for g in rulesFile.groups
    ]);
  local generated = |||
    Generated from mixin/ by scripts/generate_mixin.sh: DO NOT EDIT BY HAND.
    Change mixin/ (thresholds and durations: mixin/config.libsonnet), then run
      bash scripts/generate_mixin.sh
    `bash scripts/generate_mixin.sh --check` fails while this file and mixin/ disagree.
  |||;
  local rulesDoc = comment(rulesFile.header, '') + rulesBody;
  local prometheusRule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'mysql-pool-exporter',
      labels: {
        'app.kubernetes.io/name': 'mysql-pool-exporter',
        'app.kubernetes.io/component': 'alerting-rules',
      },
    },
  };
  local dashboards = if std.objectHasAll(mixin, 'grafanaDashboards') then mixin.grafanaDashboards else {};
  {
    'alerting-rules/mysql_pool_exporter.rules.yml': comment(generated, '') + '#\n' + rulesDoc,
    // The rules file again, under `spec:`: a PrometheusRule's spec is a rules file.
    'deploy/kubernetes/prometheusrule.yaml':
      comment(generated + |||

        The recording rules and alerts of alerting-rules/ as a prometheus-operator
        PrometheusRule. Apply it in the namespace of your Prometheus, and give it the labels
        your Prometheus' ruleSelector asks for (deploy/kubernetes/README.md).
      |||, '')
      + std.manifestYamlDoc(prometheusRule, quote_keys=false) + '\nspec:\n' + indented(rulesDoc, '  '),
  } + {
    // Sorted keys and 2-space indentation come from generate_mixin.sh's json.tool pass.
    ['dashboards/' + name]:
      assert std.length(std.findSubstr('/', name)) == 0 && std.endsWith(name, '.json')
             : 'dashboard file name %s is not NAME.json' % name;
      std.manifestJsonEx(dashboards[name], '  ')
    for name in std.objectFields(dashboards)
  }
