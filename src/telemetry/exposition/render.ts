import type { Family, HistogramFamily, LabelSet, ScalarFamily } from './family.ts';

/** A sample value as the text format writes it: `NaN`, `+Inf` and `-Inf` for the special values. */
export function formatValue(value: number): string {
  if (Number.isFinite(value)) return String(value);
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? '+Inf' : '-Inf';
}

const LABEL_SPECIAL = /[\\"\n]/;
const HELP_SPECIAL = /[\\\n]/;

/** A label value with `\`, `"` and newline escaped. */
export function escapeLabelValue(value: string): string {
  if (!LABEL_SPECIAL.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A HELP text with `\` and newline escaped (quotes stay as they are). */
export function escapeHelp(help: string): string {
  if (!HELP_SPECIAL.test(help)) return help;
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** `name="value",…` without braces; empty for no labels. */
function labelPairs(labels: LabelSet): string {
  let pairs = '';
  for (const name in labels) {
    if (pairs !== '') pairs += ',';
    pairs += `${name}="${escapeLabelValue(labels[name])}"`;
  }
  return pairs;
}

function renderScalar(family: ScalarFamily): string {
  let text = '';
  for (const sample of family.samples) {
    const pairs = labelPairs(sample.labels);
    text += `${family.name}${pairs === '' ? '' : `{${pairs}}`} ${formatValue(sample.value)}\n`;
  }
  return text;
}

/** Cumulative `_bucket` lines ending with `le="+Inf"`, then `_sum` and `_count` (the +Inf bucket). */
function renderHistogram(family: HistogramFamily): string {
  const { name, bounds } = family;
  const les = bounds.map((bound) => `le="${formatValue(bound)}"`);
  les.push('le="+Inf"');
  let text = '';
  for (const sample of family.samples) {
    const pairs = labelPairs(sample.labels);
    const prefix = pairs === '' ? '{' : `{${pairs},`;
    const braced = pairs === '' ? '' : `{${pairs}}`;
    let cumulative = 0;
    for (let i = 0; i < les.length; i++) {
      cumulative += sample.counts[i];
      text += `${name}_bucket${prefix}${les[i]}} ${formatValue(cumulative)}\n`;
    }
    text += `${name}_sum${braced} ${formatValue(sample.sum)}\n`;
    text += `${name}_count${braced} ${formatValue(cumulative)}\n`;
  }
  return text;
}

/**
 * The Prometheus text format (0.0.4) of these families: `# HELP` and `# TYPE` for each (also when
 * it has no samples yet), then its samples.
 */
export function renderFamilies(families: Iterable<Family>): string {
  let text = '';
  for (const family of families) {
    text += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    text += family.type === 'histogram' ? renderHistogram(family) : renderScalar(family);
  }
  return text;
}
