import { toMeshError } from '../core/index.ts';

export const EXIT = {
  OK: 0,
  /** Usage or validation errors, and requests the control plane refused. */
  FAILURE: 1,
  /** The control plane could not be reached. */
  UNAVAILABLE: 2,
} as const;

export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  usage or validation error, bad configuration, or a request the control plane refused
  2  the control plane could not be reached

Environment:
  TRELLIS_CONTROL      control-plane URL for client commands (default http://127.0.0.1:7400)
  TRELLIS_ADMIN_TOKEN  admin token: required by \`start\` beyond loopback, sent by client commands
  TRELLIS_HOST, TRELLIS_PORT, TRELLIS_DATA_DIR, TRELLIS_STORE
                       defaults for \`trellis start\` (flags win over them, they win over trellis.yaml)`;

/** Writes `error: <code>: <message>` and the bad fields to stderr; returns the exit code. */
export function reportError(error: unknown, write: (text: string) => void): number {
  const meshError = toMeshError(error);
  write(`error: ${meshError.code}: ${meshError.message}\n`);
  const fields = meshError.details.filter((detail) => detail.path || detail.line !== undefined);
  const alreadySaid = fields.length === 1 && meshError.message.includes(`${fields[0]!.path}: `);
  if (!alreadySaid) {
    for (const detail of fields) {
      const source = detail.source ?? detail.file;
      const where =
        detail.line === undefined ? '' : ` (${source ? `${String(source)} ` : ''}line ${detail.line})`;
      write(`  ${detail.path || '(root)'}: ${detail.message}${where}\n`);
    }
  }
  if (meshError.code === 'UNAUTHORIZED') write('  hint: pass --token <token> or set TRELLIS_ADMIN_TOKEN\n');
  return meshError.code === 'CONTROL_PLANE_UNAVAILABLE' ? EXIT.UNAVAILABLE : EXIT.FAILURE;
}
