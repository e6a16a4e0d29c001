// Driver of scripts/render_mixin.py (run by scripts/generate_mixin.sh with -J mixin): the
// single-group rules file with each rule's hidden comment beside it, and the dashboards.
// The top-level argument lets scripts/test_mixin.sh render an overridden mixin.
function(mixin=(import 'mixin.libsonnet'))
  local rulesFile = (import 'lib/rules_file.libsonnet')(mixin);
  {
    rules: {
      header: rulesFile.header,
      groups: [
        {
          name: g.name,
          rules: [
            { rule: r, comment: if std.objectHasAll(r, 'comment') then r.comment else null }
            for r in g.rules
          ],
        }
        for g in rulesFile.groups
      ],
    },
    dashboards: if std.objectHasAll(mixin, 'grafanaDashboards') then mixin.grafanaDashboards else {},
  }
