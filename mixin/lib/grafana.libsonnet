// The few Grafana building blocks the dashboards use, in plain jsonnet (no grafonnet): the
// panel JSON of Grafana 10/11 (schemaVersion 39), with the defaults the dashboards share.
// Every panel and target reads from the `datasource` template variable.
{
  datasource:: { type: 'prometheus', uid: '${datasource}' },

  pos(x, y, w, h):: { h: h, w: w, x: x, y: y },

  // Threshold steps: base colour from -inf, then [colour, value] pairs.
  steps(base, pairs=[]):: {
    mode: 'absolute',
    steps: [{ color: base, value: null }] + [{ color: p[0], value: p[1] } for p in pairs],
  },

  target(expr, legend, refId='A', instant=false, format=null):: {
    datasource: $.datasource,
    editorMode: 'code',
    expr: expr,
    legendFormat: legend,
    refId: refId,
    range: !instant,
    instant: instant,
  } + (if format == null then {} else { format: format }),

  local hideFrom = { legend: false, tooltip: false, viz: false },

  panel(type, title, description, gridPos, targets):: {
    type: type,
    title: title,
    description: description,
    datasource: $.datasource,
    gridPos: gridPos,
    targets: targets,
  },

  row(title, y):: {
    type: 'row',
    title: title,
    collapsed: false,
    panels: [],
    gridPos: $.pos(0, y, 24, 1),
  },

  // A row repeated once per selected value of a variable: the panels under it (up to the next
  // row) are drawn once per value, each with the variable set to that one value.
  repeatedRow(title, y, variable):: $.row(title, y) { repeat: variable },

  // Patches added to a panel with `+`.
  // The panel repeated per selected value of the variable, side by side.
  // direction 'v': the copies one below the other (two such panels side by side make pairs).
  repeat(variable, maxPerRow=null, direction='h')::
    { repeat: variable, repeatDirection: direction }
    + (if maxPerRow == null then {} else { maxPerRow: maxPerRow }),
  // What the panel says instead of "No data": why it is empty and how to fill it.
  noValue(text):: { fieldConfig+: { defaults+: { noValue: text } } },
  // Data links on every series (or bar, or cell) of the panel.
  links(list):: { fieldConfig+: { defaults+: { links: list } } },
  // The series coloured by the thresholds (green below the first step, red from it) and the
  // area above the threshold shaded: "red as soon as one exists" really turns the line red.
  colourByThresholds:: {
    fieldConfig+: {
      defaults+: {
        color: { mode: 'thresholds' },
        custom+: { gradientMode: 'scheme', thresholdsStyle: { mode: 'line+area' } },
      },
    },
  },

  // A time series with lines, a table legend (last, max) and a shared tooltip.
  // thresholdsStyle: off | line | dashed (draw the thresholds on the graph).
  timeseries(title,
             description,
             gridPos,
             targets,
             unit,
             thresholds=$.steps('green'),
             thresholdsStyle='off',
             stacking='none',
             fillOpacity=10,
             max=null,
             overrides=[])::
    $.panel('timeseries', title, description, gridPos, targets) {
      fieldConfig: {
        defaults: {
          color: { mode: 'palette-classic' },
          custom: {
            drawStyle: 'line',
            lineInterpolation: 'linear',
            lineWidth: 1,
            fillOpacity: fillOpacity,
            gradientMode: 'none',
            showPoints: 'never',
            pointSize: 4,
            spanNulls: false,
            axisPlacement: 'auto',
            axisLabel: '',
            axisSoftMin: 0,
            stacking: { mode: stacking, group: 'A' },
            thresholdsStyle: { mode: thresholdsStyle },
            hideFrom: hideFrom,
          },
          unit: unit,
          thresholds: thresholds,
          mappings: [],
          min: 0,
        } + (if max == null then {} else { max: max }),
        overrides: overrides,
      },
      options: {
        legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['lastNotNull', 'max'] },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
    },

  // A single value per series, coloured by the thresholds.
  stat(title, description, gridPos, targets, unit, thresholds, decimals=null, mappings=[], graphMode='area')::
    $.panel('stat', title, description, gridPos, targets) {
      fieldConfig: {
        defaults: {
          color: { mode: 'thresholds' },
          unit: unit,
          thresholds: thresholds,
          mappings: mappings,
        } + (if decimals == null then {} else { decimals: decimals }),
        overrides: [],
      },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: 'background',
        graphMode: graphMode,
        justifyMode: 'auto',
        orientation: 'auto',
        textMode: 'auto',
        wideLayout: true,
        showPercentChange: false,
      },
    },

  // A session-age histogram (a snapshot of buckets, not a rate) as a heatmap.
  heatmap(title, description, gridPos, expr)::
    $.panel('heatmap', title, description, gridPos, [$.target(expr, '{{le}}', format='heatmap')]) {
      fieldConfig: {
        defaults: {
          unit: 'short',
          custom: { hideFrom: hideFrom, scaleDistribution: { type: 'linear' } },
        },
        overrides: [],
      },
      options: {
        calculate: false,
        cellGap: 1,
        cellValues: { unit: 'short' },
        color: {
          exponent: 0.5,
          fill: 'dark-orange',
          mode: 'scheme',
          reverse: false,
          scale: 'exponential',
          scheme: 'Oranges',
          steps: 64,
        },
        exemplars: { color: 'rgba(255,0,255,0.7)' },
        filterValues: { le: 1e-09 },
        legend: { show: true },
        rowsFrame: { layout: 'auto', value: 'sessions' },
        tooltip: { mode: 'single', yHistogram: true, showColorScale: false },
        yAxis: { axisPlacement: 'left', reverse: false, unit: 's', axisLabel: 'age in state' },
      },
    },

  // Field overrides.
  fixedColor(regex, color):: {
    matcher: { id: 'byRegexp', options: regex },
    properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: color } }],
  },
  // A limit line (max_connections, pool capacity): dashed, not filled, not stacked.
  limitLine(regex, color):: $.fixedColor(regex, color) {
    properties+: [
      { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
      { id: 'custom.fillOpacity', value: 0 },
      { id: 'custom.stacking', value: { mode: 'none', group: 'A' } },
    ],
  },
  // The session states in the same colours everywhere; idle_in_transaction (the leak) red.
  // A legend that ends with the state's name gets its colour.
  stateColors:: [
    $.fixedColor('(.*[ _])?idle_in_transaction$', 'red'),
    $.fixedColor('(.*[ _])?lock_wait$', 'orange'),
    $.fixedColor('(.*[ _])?active$', 'blue'),
    $.fixedColor('(.*[ _])?idle$', 'green'),
  ],
  // A peak line (the sampler's maximum between scrapes): dotted, not filled, not stacked.
  peakLine(regex, color):: $.fixedColor(regex, color) {
    properties+: [
      { id: 'custom.lineStyle', value: { fill: 'dot', dash: [2, 6] } },
      { id: 'custom.lineWidth', value: 2 },
      { id: 'custom.fillOpacity', value: 0 },
      { id: 'custom.stacking', value: { mode: 'none', group: 'A' } },
    ],
  },

  // A query template variable over the data source variable. allValue null: "All" is the
  // list of the values found (Grafana builds `(a|b)`), not a regex matching anything.
  // Without includeAll the first value found is the default.
  queryVariable(name, label, query, multi, includeAll=true, allValue='.*', description=null):: {
                                                                                                 name: name,
                                                                                                 label: label,
                                                                                                 type: 'query',
                                                                                                 datasource: $.datasource,
                                                                                                 definition: query,
                                                                                                 query: query,
                                                                                                 refresh: 2,
                                                                                                 regex: '',
                                                                                                 sort: 1,
                                                                                                 hide: 0,
                                                                                                 includeAll: includeAll,
                                                                                                 multi: multi,
                                                                                                 current: if !includeAll then {}
                                                                                                 else if multi then { selected: true, text: ['All'], value: ['$__all'] }
                                                                                                 else { selected: true, text: 'All', value: '$__all' },
                                                                                                 options: [],
                                                                                                 skipUrlSync: false,
                                                                                               } + (if includeAll && allValue != null then { allValue: allValue } else {})
                                                                                               + (if description == null then {} else { description: description })
                                                                                               // A value typed into the picker is kept even when the query does not list it.
                                                                                               + (if includeAll then {} else { allowCustomValue: true }),

  datasourceVariable:: {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    current: {},
    hide: 0,
    includeAll: false,
    multi: false,
    options: [],
    refresh: 1,
    regex: '',
    skipUrlSync: false,
  },

  // A dashboard; panel ids are their positions, from 1. extraLinks go after the link to the
  // other dashboards of the tag.
  dashboard(uid, title, description, panels, variables, tags, refresh, from, timezone, extraLinks=[]):: {
    annotations: {
      list: [{
        builtIn: 1,
        datasource: { type: 'grafana', uid: '-- Grafana --' },
        enable: true,
        hide: true,
        iconColor: 'rgba(0, 211, 255, 1)',
        name: 'Annotations & Alerts',
        type: 'dashboard',
      }],
    },
    description: description,
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    links: [{
      title: 'MySQL pool dashboards',
      type: 'dashboards',
      tags: ['mysql_pool_exporter'],
      asDropdown: false,
      includeVars: true,
      keepTime: true,
      icon: 'external link',
      targetBlank: false,
      tooltip: '',
      url: '',
    }] + extraLinks,
    panels: std.mapWithIndex(function(i, p) p { id: i + 1 }, panels),
    refresh: refresh,
    schemaVersion: 39,
    tags: tags,
    templating: { list: variables },
    time: { from: from, to: 'now' },
    timepicker: {},
    timezone: timezone,
    title: title,
    uid: uid,
    version: 1,
    weekStart: '',
  },
}
