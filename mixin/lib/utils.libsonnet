// Small string helpers shared by the alerts, rules and dashboards. Plain jsonnet (v0.18+).
{
  // A number as PromQL and people write it: 0.8 -> "0.8", 40 -> "40" (std.toString would
  // give "0.80000000000000004"). The shortest %g form that reads back as the same number.
  num(x)::
    assert std.isNumber(x) : 'num: %s is not a number' % [x];
    if x == std.floor(x) && std.abs(x) < 1e15 then '%d' % x
    else
      local fits = [p for p in std.range(1, 17) if std.parseJson('%.*g' % [p, x]) == x];
      '%.*g' % [fits[0], x],

  // A ratio as a percentage for texts: 0.8 -> "80", 0.985 -> "98.5".
  pct(ratio):: self.num(std.floor(ratio * 100 * 1e6 + 0.5) / 1e6),

  // A Prometheus duration for texts: '5m' -> "5 minutes", '1m' -> "1 minute",
  // '30s' -> "30 seconds". Anything else ('1h30m') is returned as it is.
  humanDuration(d)::
    local units = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week' };
    local n = std.substr(d, 0, std.length(d) - 1);
    local u = d[std.length(d) - 1];
    local digits = std.length(n) > 0 && std.length([ch for ch in std.stringChars(n) if !std.member('0123456789', ch)]) == 0;
    if digits && std.objectHas(units, u) then
      '%s %s%s' % [n, units[u], if n == '1' then '' else 's']
    else d,

  // A single-unit Prometheus duration in seconds: '1h' -> 3600, '90s' -> 90.
  seconds(d)::
    local per = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
    local u = d[std.length(d) - 1];
    assert std.objectHas(per, u) : 'seconds: %s is not one number and one unit' % d;
    std.parseInt(std.substr(d, 0, std.length(d) - 1)) * per[u],

  // A text written over several lines in a ||| block, as one line: the line breaks become
  // single spaces, exactly what a YAML folded scalar (>-) did in the hand-written rules.
  fold(text)::
    std.join(' ', std.filter(function(l) l != '', std.split(text, '\n'))),

  // A PromQL expression from a ||| block: the layout is kept (PromQL ignores it, and it keeps
  // the generated rules file readable), only the final newline goes.
  expr(text):: std.rstripChars(text, '\n'),
}
