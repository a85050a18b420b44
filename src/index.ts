/** The `trellis` package: the SDK for services in the mesh, and the errors it raises. */

export type { HealthState, Instance, ServicePolicy } from './core/index.ts';
export { ERROR_CODES, type ErrorCode, isMeshError, MeshError } from './core/index.ts';
export * from './sdk/index.ts';
