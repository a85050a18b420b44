export { aggregateFamilies } from './aggregate.ts';
export {
  type Aggregation,
  type Family,
  type FamilySource,
  type FamilyType,
  type HistogramFamily,
  type HistogramSample,
  type LabelSet,
  PROMETHEUS_CONTENT_TYPE,
  type Sample,
  type ScalarFamily,
} from './family.ts';
export { escapeHelp, escapeLabelValue, formatValue, renderFamilies } from './render.ts';
export {
  fromWire,
  toWire,
  type WireFamily,
  type WireHistogramSample,
  type WireNumber,
  type WireSample,
} from './wire.ts';
