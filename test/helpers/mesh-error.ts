import { isMeshError, type MeshError } from '../../src/core/index.ts';

/** The MeshError `run` throws; fails the test when it returns or throws something else. */
export function failure(run: () => unknown): MeshError {
  try {
    run();
  } catch (error) {
    if (isMeshError(error)) return error;
    throw error;
  }
  throw new Error('expected a MeshError');
}

/** The MeshError `run` rejects with; fails the test when it resolves or rejects with something else. */
export async function rejection(run: () => Promise<unknown>): Promise<MeshError> {
  try {
    await run();
  } catch (error) {
    if (isMeshError(error)) return error;
    throw error;
  }
  throw new Error('expected a MeshError');
}

/** The paths of an error's details, in order. */
export const paths = (error: MeshError): (string | undefined)[] => error.details.map((detail) => detail.path);
