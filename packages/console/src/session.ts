// The API token lives in sessionStorage only: it is gone when the tab closes, and other tabs
// (and other origins) never see it. An empty token means the API runs without one (loopback).
const KEY = 'sipfront.console.token';

export interface Session {
  token: string | null;
}

export const loadSession = (): Session | null => {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (raw === null) return null;
    return { token: raw === '' ? null : raw };
  } catch {
    return null;
  }
};

export const saveSession = (s: Session): void => {
  try {
    sessionStorage.setItem(KEY, s.token ?? '');
  } catch {
    // storage refused (private mode quotas): the session lasts until reload
  }
};

export const clearSession = (): void => {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // nothing to clear
  }
};
