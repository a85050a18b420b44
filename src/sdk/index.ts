export { connect } from './connect.ts';
export type {
  ConnectOptions,
  ErrorInterceptor,
  InterceptorManager,
  Interceptors,
  Mesh,
  MeshBody,
  MeshFetchInit,
  MeshHeadersInit,
  MeshRequest,
  MeshResponse,
  RegisterOptions,
  Registration,
  RequestInterceptor,
  ResponseInterceptor,
  TraceContext,
  TracingOptions,
} from './types.ts';
