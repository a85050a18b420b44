export function num(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return value.toLocaleString('en-US', { maximumFractionDigits: digits });
}

export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  if (value >= 1000) return `${num(value / 1000, 2)} s`;
  return `${num(value, value < 10 ? 2 : 0)} ms`;
}

export function pct(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined) return '–';
  return `${num(ratio * 100, ratio < 0.01 && ratio > 0 ? 2 : 1)}%`;
}

export function time(epochMs: number | undefined): string {
  if (!epochMs) return '–';
  return new Date(epochMs).toLocaleTimeString('en-GB', { hour12: false });
}

export function dateTime(epochMs: number | undefined): string {
  if (!epochMs) return '–';
  const date = new Date(epochMs);
  return `${date.toLocaleDateString('en-CA')} ${date.toLocaleTimeString('en-GB', { hour12: false })}`;
}

export function errorColour(ratio: number): string {
  if (ratio >= 0.1) return '#d33';
  if (ratio >= 0.01) return '#e89b00';
  return '#2a8a4a';
}
