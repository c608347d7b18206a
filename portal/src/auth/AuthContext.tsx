// Who is signed in, and how: dev sign-in under `make dev` (the server's dev-auth mode), Entra ID
// through MSAL in production, as /config.json says.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { configureClient } from "../api/client";
import type { PortalConfig } from "../api/types";
import type { MsalSession } from "./msal";

const DEV_SESSION_KEY = "nexus.devSession";

export interface DevSession {
  token: string;
  user: string;
  groups: string[];
  expiresAt: number;
}

export interface AuthState {
  mode: PortalConfig["auth"]["mode"];
  status: "loading" | "signedOut" | "signedIn";
  user: string | null;
  /** Why the last session ended (token expired, refused), shown on the sign-in page. */
  notice: string | null;
  error: string | null;
  /** After MSAL's redirect: the page the user wanted. */
  returnTo: string | null;
  signInDev: (session: Omit<DevSession, "expiresAt">) => void;
  signInMsal: (returnTo: string) => Promise<void>;
  signOut: () => void;
}

const AuthContext = createContext<AuthState | null>(null);

function tokenExpiry(token: string): number {
  try {
    const payload = JSON.parse(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) as { exp?: number };
    return payload.exp ? payload.exp * 1000 : Date.now() + 3600_000;
  } catch {
    return Date.now() + 3600_000;
  }
}

export function loadDevSession(): DevSession | null {
  try {
    const raw = sessionStorage.getItem(DEV_SESSION_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as DevSession;
    if (!s.token || s.expiresAt < Date.now() + 30_000) return null;
    return s;
  } catch {
    return null;
  }
}

export function AuthProvider({ config, children }: { config: PortalConfig; children: ReactNode }) {
  const mode = config.auth.mode;
  const [dev, setDev] = useState<DevSession | null>(() => (mode === "dev" ? loadDevSession() : null));
  const [msal, setMsal] = useState<MsalSession | null>(null);
  const [status, setStatus] = useState<AuthState["status"]>(mode === "msal" ? "loading" : dev ? "signedIn" : "signedOut");
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [returnTo, setReturnTo] = useState<string | null>(null);
  const devRef = useRef(dev);
  devRef.current = dev;
  const msalRef = useRef(msal);
  msalRef.current = msal;

  const signOut = useCallback(() => {
    sessionStorage.removeItem(DEV_SESSION_KEY);
    setDev(null);
    setStatus("signedOut");
    if (msalRef.current) void msalRef.current.signOut();
  }, []);

  // Configured during the first render, before any child fetches (children's effects run before
  // this component's effects; a request without the token would be answered 401).
  useState(() =>
    configureClient(
      async () => {
        if (devRef.current) return devRef.current.token;
        if (msalRef.current) return msalRef.current.token();
        return null;
      },
      (message) => {
        setNotice(`You were signed out: ${message}`);
        sessionStorage.removeItem(DEV_SESSION_KEY);
        devRef.current = null;
        setDev(null);
        setStatus("signedOut");
      },
    ),
  );

  useEffect(() => {
    if (config.auth.mode !== "msal") return;
    let cancelled = false;
    import("./msal")
      .then(({ startMsal }) => startMsal((config.auth as { msal: Parameters<typeof startMsal>[0] }).msal))
      .then((session) => {
        if (cancelled) return;
        setMsal(session);
        setReturnTo(session.returnTo);
        setStatus(session.account ? "signedIn" : "signedOut");
      })
      .catch((e: Error) => {
        if (cancelled) return;
        setError(`Entra ID sign-in could not start: ${e.message}`);
        setStatus("signedOut");
      });
    return () => {
      cancelled = true;
    };
  }, [config]);

  const signInDev = useCallback((session: Omit<DevSession, "expiresAt">) => {
    const full = { ...session, expiresAt: tokenExpiry(session.token) };
    sessionStorage.setItem(DEV_SESSION_KEY, JSON.stringify(full));
    devRef.current = full;
    setDev(full);
    setNotice(null);
    setStatus("signedIn");
  }, []);

  const signInMsal = useCallback(async (to: string) => {
    if (!msalRef.current) throw new Error("Entra ID sign-in is not ready yet");
    await msalRef.current.signIn(to);
  }, []);

  const user = dev?.user ?? msal?.account?.username ?? null;
  const value = useMemo<AuthState>(
    () => ({ mode, status, user, notice, error, returnTo, signInDev, signInMsal, signOut }),
    [mode, status, user, notice, error, returnTo, signInDev, signInMsal, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error("useAuth outside AuthProvider");
  return ctx;
}
