// The live stream (/api/v1/stream, Server-Sent Events). Browsers cannot put a bearer token on
// EventSource, so this reads the stream with fetch and parses SSE itself.
import { apiFetchStream } from "./streamFetch";

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** Incremental SSE parser: feed text chunks, get complete events. */
export class SseParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];
  private id: string | undefined;

  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const nl = this.buffer.search(/\r\n|\r|\n/);
      if (nl < 0) break;
      const line = this.buffer.slice(0, nl);
      const width = this.buffer.startsWith("\r\n", nl) ? 2 : 1;
      this.buffer = this.buffer.slice(nl + width);
      if (line === "") {
        if (this.data.length) {
          out.push({ event: this.event || "message", data: this.data.join("\n"), id: this.id });
        }
        this.event = "";
        this.data = [];
        continue;
      }
      if (line.startsWith(":")) continue; // keep-alive comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") this.event = value;
      else if (field === "data") this.data.push(value);
      else if (field === "id") this.id = value;
    }
    return out;
  }
}

export type StreamState = "connecting" | "live" | "stale" | "offline";

export interface StreamHandlers {
  onEvent: (e: SseEvent) => void;
  onState: (s: StreamState, detail?: string) => void;
}

/**
 * Keeps a stream open until `signal` aborts, reconnecting with back-off (1 s doubling to 30 s).
 * After a reconnect the caller should refetch what it shows (a `ready` event follows).
 */
export async function runStream(query: string, handlers: StreamHandlers, signal: AbortSignal) {
  let delay = 1000;
  while (!signal.aborted) {
    handlers.onState("connecting");
    try {
      const body = await apiFetchStream(`/api/v1/stream${query}`, signal);
      const reader = body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const event of parser.push(decoder.decode(value, { stream: true }))) {
          if (event.event === "ready") delay = 1000;
          handlers.onEvent(event);
        }
      }
      handlers.onState("offline", "The live stream ended; reconnecting.");
    } catch (e) {
      if (signal.aborted) return;
      handlers.onState("offline", (e as Error).message);
      if ((e as { status?: number }).status === 401 || (e as { status?: number }).status === 403) {
        // Not allowed to watch: retrying will not help until the user signs in again.
        delay = 30000;
      }
    }
    await new Promise((resolve) => {
      const t = setTimeout(resolve, delay);
      signal.addEventListener("abort", () => { clearTimeout(t); resolve(undefined); }, { once: true });
    });
    delay = Math.min(delay * 2, 30000);
  }
}
