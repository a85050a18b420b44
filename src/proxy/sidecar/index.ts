export { formatHostPort, type SidecarOptions, type SidecarSettings, sidecarSettingsOf } from './options.ts';
export { type Sidecar, startSidecar } from './sidecar.ts';
