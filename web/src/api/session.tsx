// The signed-in caller, loaded once from `GET /v1/console/session` and shared
// with every page. The session itself is an HttpOnly cookie the page never sees.

import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import { api, setCsrfToken, type Schemas } from './client';
import { unwrap } from './errors';

export type Caller = Schemas['ConsoleCaller'];

interface SessionState {
  /** `undefined` while loading, `null` when signed out. */
  caller: Caller | null | undefined;
  signedIn: (caller: Caller) => void;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [caller, setCaller] = useState<Caller | null | undefined>(undefined);

  useEffect(() => {
    let live = true;
    api.GET('/v1/console/session').then(
      (result) => {
        if (!live) return;
        const signedIn = result.response.ok ? result.data?.caller : null;
        if (signedIn) {
          setCsrfToken(signedIn.csrf_token);
          setCaller(signedIn);
        } else {
          setCaller(null);
        }
      },
      () => live && setCaller(null),
    );
    return () => {
      live = false;
    };
  }, []);

  const signedIn = useCallback((next: Caller) => {
    setCsrfToken(next.csrf_token);
    setCaller(next);
  }, []);

  const signOut = useCallback(async () => {
    unwrap(await api.DELETE('/v1/console/session'));
    setCsrfToken(null);
    setCaller(null);
  }, []);

  return <SessionContext.Provider value={{ caller, signedIn, signOut }}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error('useSession outside SessionProvider');
  return state;
}

/** The signed-in caller; only for pages rendered behind the sign-in gate. */
export function useCaller(): Caller {
  const { caller } = useSession();
  if (!caller) throw new Error('useCaller without a session');
  return caller;
}
