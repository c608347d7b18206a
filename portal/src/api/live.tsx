// Live updates: one stream per signed-in tab. A change refetches the open entity at once and
// everything else that is on screen (lists, graphs, dashboards) at most once per second.
import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { runStream, type SseEvent, type StreamState } from "./stream";
import type { ChangeEvent } from "./types";

export interface LiveState {
  state: StreamState;
  detail?: string;
  /** Changes received since the page was opened. */
  changes: number;
  lastChange?: ChangeEvent;
}

const LiveContext = createContext<LiveState>({ state: "offline", changes: 0 });

export function applyEvent(client: QueryClient, event: SseEvent, scheduleBroad: () => void, scheduleRuns: () => void = scheduleBroad): ChangeEvent | null {
  if (event.event === "change") {
    let change: ChangeEvent;
    try {
      change = JSON.parse(event.data) as ChangeEvent;
    } catch {
      return null;
    }
    void client.invalidateQueries({ queryKey: ["entity", change.ref] });
    void client.invalidateQueries({ queryKey: ["impact", change.ref] });
    scheduleBroad();
    return change;
  }
  if (event.event === "run" || event.event === "approval") {
    // A run moved (or someone decided on one): its page at once, lists within a second.
    try {
      const run = JSON.parse(event.data) as { namespace?: string; name?: string; run?: string };
      const name = event.event === "run" ? run.name : run.run;
      if (run.namespace && name) void client.invalidateQueries({ queryKey: ["run", `${run.namespace}/${name}`] });
    } catch {
      // a malformed event only loses the immediate refresh; the broad one still comes
    }
    scheduleRuns();
    return null;
  }
  if (event.event === "ready" || event.event === "resync") {
    // Connected (again) or too much changed at once: everything shown may be out of date.
    void client.invalidateQueries();
  }
  return null;
}

const BROAD = ["search", "facets", "graph", "team", "dashboard", "status", "impact", "insights", "runbooks"];
const RUNS = ["runs", "inbox", "audit"];

export function LiveProvider({ children, enabled }: { children: ReactNode; enabled: boolean }) {
  const client = useQueryClient();
  const [live, setLive] = useState<LiveState>({ state: "offline", changes: 0 });

  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | null = null;
    let runsTimer: ReturnType<typeof setTimeout> | null = null;
    const scheduleRuns = () => {
      if (runsTimer) return;
      runsTimer = setTimeout(() => {
        runsTimer = null;
        for (const key of RUNS) void client.invalidateQueries({ queryKey: [key] });
      }, 500);
    };
    const scheduleBroad = () => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        for (const key of BROAD) void client.invalidateQueries({ queryKey: [key] });
      }, 1000);
    };
    void runStream(
      "",
      {
        onEvent: (event) => {
          if (event.event === "status") {
            try {
              const stale = (JSON.parse(event.data) as { cache?: { staleSeconds?: number } }).cache?.staleSeconds ?? 0;
              setLive((l) => ({ ...l, state: stale > 0 ? "stale" : "live", detail: stale > 0 ? `The catalog cache is ${Math.round(stale)} s behind Kubernetes.` : undefined }));
            } catch {
              // ignore a malformed status event
            }
            return;
          }
          // `ready` (first connection or a reconnect) refetches what is shown: a change made
          // between the page's fetch and the subscription must not be missed.
          const change = applyEvent(client, event, scheduleBroad, scheduleRuns);
          if (event.event === "ready") setLive((l) => ({ ...l, state: "live", detail: undefined }));
          if (change) setLive((l) => ({ ...l, changes: l.changes + 1, lastChange: change }));
        },
        onState: (state, detail) => setLive((l) => ({ ...l, state, detail })),
      },
      controller.signal,
    );
    return () => {
      controller.abort();
      if (timer) clearTimeout(timer);
      if (runsTimer) clearTimeout(runsTimer);
    };
  }, [client, enabled]);

  return <LiveContext.Provider value={live}>{children}</LiveContext.Provider>;
}

export function useLive() {
  return useContext(LiveContext);
}
