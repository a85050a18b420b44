/**
 * trellis.yaml (or .json) + environment + command-line flags → one validated, frozen TrellisConfig.
 * Precedence, lowest first: schema defaults, the file, TRELLIS_* variables, flags.
 */
import { readFile } from 'node:fs/promises';
import { type Document, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { type ErrorDetail, MeshError } from '../core/index.ts';
import { type controlSettings, type TrellisConfig, trellisConfig } from './schema.ts';

export type ControlOverrides = Partial<z.input<typeof controlSettings>>;

export interface LoadConfigOptions {
  /** Path of trellis.yaml or a .json file; omitted means defaults + environment + flags only. */
  file?: string;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Control settings from CLI flags; undefined values are ignored. */
  overrides?: ControlOverrides;
}

type ControlKey = keyof z.input<typeof controlSettings>;

const ENV_VARS: ReadonlyArray<[string, ControlKey]> = [
  ['TRELLIS_HOST', 'host'],
  ['TRELLIS_PORT', 'port'],
  ['TRELLIS_DATA_DIR', 'dataDir'],
  ['TRELLIS_STORE', 'store'],
  ['TRELLIS_ADMIN_TOKEN', 'adminToken'],
];

const FLAGS: Record<ControlKey, string> = {
  host: '--host',
  port: '--port',
  dataDir: '--data-dir',
  store: '--store',
  adminToken: '--admin-token',
  maxBodyBytes: '--max-body-bytes',
};

/** Where a document came from, to point at it in errors. */
interface Source {
  label: string;
  doc?: Document;
  lines?: LineCounter;
}

export async function loadConfig(options: LoadConfigOptions = {}): Promise<TrellisConfig> {
  const env = options.env ?? process.env;
  const file: Source = { label: options.file ?? 'configuration' };
  const raw = options.file === undefined ? {} : await readConfigFile(options.file, file);

  // Remember who set each control field, so an error names the variable or flag rather than the file.
  const setBy = new Map<ControlKey, string>();
  const control: Record<string, unknown> = {};
  for (const [name, key] of ENV_VARS) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    control[key] = key === 'port' ? parsePort(value, name) : value;
    setBy.set(key, name);
  }
  for (const [key, value] of Object.entries(options.overrides ?? {}) as [ControlKey, unknown][]) {
    if (value === undefined) continue;
    control[key] = value;
    setBy.set(key, FLAGS[key] ?? key);
  }

  const merged = mergeControl(raw, control);
  const result = trellisConfig.safeParse(merged);
  if (!result.success) throw configError(result.error, file, setBy);
  return deepFreeze(result.data);
}

async function readConfigFile(path: string, source: Source): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as Error).message.split(',')[0];
    throw new MeshError('INVALID_CONFIG', `cannot read ${path}: ${reason}`, {
      details: [{ path: '', message: reason!, file: path }],
      cause: error,
    });
  }
  const lines = new LineCounter();
  if (path.endsWith('.json')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      const message = `${path}: invalid JSON: ${(error as Error).message}`;
      throw new MeshError('INVALID_CONFIG', message, {
        details: [{ path: '', message: (error as Error).message, file: path }],
      });
    }
    // JSON is YAML, so the YAML parser can still tell us where each node is for error messages.
    const doc = parseDocument(text, { lineCounter: lines });
    if (doc.errors.length === 0) Object.assign(source, { doc, lines });
    return value;
  }
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length > 0) {
    const details = doc.errors.map((error) => {
      const at = error.linePos?.[0];
      return {
        path: '',
        message: error.message.split(' at line ')[0]!,
        file: path,
        line: at?.line,
        column: at?.col,
      };
    });
    const first = details[0]!;
    const where = first.line === undefined ? '' : ` at line ${first.line}, column ${first.column}`;
    throw new MeshError('INVALID_CONFIG', `${path}: YAML syntax error${where}: ${first.message}`, {
      details,
    });
  }
  Object.assign(source, { doc, lines });
  return doc.toJS() ?? {};
}

function parsePort(value: string, name: string): unknown {
  if (/^\d+$/.test(value.trim())) return Number(value);
  throw new MeshError('INVALID_CONFIG', `${name}: control.port: expected a port number, got "${value}"`, {
    details: [{ path: 'control.port', message: `expected a port number, got "${value}"`, source: name }],
  });
}

function mergeControl(raw: unknown, control: Record<string, unknown>): unknown {
  if (Object.keys(control).length === 0 || !isPlainObject(raw)) return raw;
  const base = raw.control === undefined ? {} : raw.control;
  // A `control:` that is not a mapping is left alone for the schema to reject.
  if (!isPlainObject(base)) return raw;
  return { ...raw, control: { ...base, ...control } };
}

function configError(error: z.ZodError, file: Source, setBy: Map<ControlKey, string>): MeshError {
  const details: ErrorDetail[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        details.push(locate([...path, key], `unknown field "${key}"`, file, setBy));
    } else {
      // zod says "Invalid input: expected string, received undefined" for a field that is missing.
      const missing = issue.code === 'invalid_type' && /received undefined$/.test(issue.message);
      details.push(locate(path, missing ? 'required' : issue.message, file, setBy));
    }
  }
  const first = details[0]!;
  const where = first.path ? `${first.path}: ` : '';
  const line = first.line === undefined ? '' : ` (line ${first.line})`;
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  return new MeshError('INVALID_CONFIG', `${first.source}: ${where}${first.message}${line}${more}`, {
    details,
  });
}

function locate(path: string[], message: string, file: Source, setBy: Map<ControlKey, string>): ErrorDetail {
  const dotted = path.join('.');
  const flagOrEnv = path[0] === 'control' && path.length >= 2 ? setBy.get(path[1] as ControlKey) : undefined;
  if (flagOrEnv) return { path: dotted, message, source: flagOrEnv };
  const line = file.doc && file.lines ? lineOf(file.doc, file.lines, path) : undefined;
  return { path: dotted, message, source: file.label, ...(line === undefined ? {} : { line }) };
}

/** Line of the node at `path`, or of its nearest ancestor that exists (for a missing field). */
function lineOf(doc: Document, lines: LineCounter, path: string[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const keys = path.slice(0, depth).map((key) => (/^\d+$/.test(key) ? Number(key) : key));
    const node = depth === 0 ? doc.contents : doc.getIn(keys, true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return lines.linePos(range[0]).line;
    // An unknown key has no value node we can ask for by path, but its key node is in the parent map.
    if (depth === path.length && depth > 0) {
      const parent = doc.getIn(keys.slice(0, -1), true) as { items?: unknown[] } | undefined;
      const pair = parent?.items?.find(
        (item) => (item as { key?: { value?: unknown } }).key?.value === keys[keys.length - 1],
      ) as { key?: { range?: [number, number, number] } } | undefined;
      if (pair?.key?.range) return lines.linePos(pair.key.range[0]).line;
    }
  }
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
