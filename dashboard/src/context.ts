import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api } from './api.ts';
import type { StatsHistory } from './hooks.ts';
import type { MeshState, WatchStatus } from './watch.ts';

export interface AppState {
  api: Api;
  mesh: MeshState;
  status: WatchStatus;
  history: StatsHistory;
  /** Bumped when the token changes, so polls start over. */
  authVersion: number;
}

export const AppContext = createContext<AppState | null>(null);

export function useApp(): AppState {
  const state = useContext(AppContext);
  if (!state) throw new Error('useApp outside the app');
  return state;
}
