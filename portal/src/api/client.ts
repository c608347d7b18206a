// The portal API client: bearer token on every call, Kubernetes Status errors turned into
// ApiError with a message a person can act on.
import type { KubeStatus } from "./types";

export type TokenProvider = () => Promise<string | null>;

let tokenProvider: TokenProvider = async () => null;
let onUnauthorized: (message: string) => void = () => {};

/** Set by the auth layer: where tokens come from, and what to do when the server refuses one. */
export function configureClient(provider: TokenProvider, unauthorized: (message: string) => void) {
  tokenProvider = provider;
  onUnauthorized = unauthorized;
}

export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly path: string;

  constructor(status: number, reason: string, message: string, path: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.reason = reason;
    this.path = path;
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

/** Query-string from an object: arrays repeat as comma lists, empty values are left out. */
export function queryString(params: Record<string, string | string[] | number | boolean | undefined | null>) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) {
      if (value.length) search.set(key, value.join(","));
    } else {
      search.set(key, String(value));
    }
  }
  const s = search.toString();
  return s ? `?${s}` : "";
}

async function errorFrom(response: Response, path: string): Promise<ApiError> {
  let status: Partial<KubeStatus> = {};
  try {
    status = (await response.json()) as KubeStatus;
  } catch {
    // Not JSON: a proxy or the network answered.
  }
  const message =
    status.message ||
    (response.status === 502 || response.status === 504
      ? "The portal API is not reachable (gateway error)."
      : `The portal API answered ${response.status} ${response.statusText}.`);
  return new ApiError(response.status, status.reason ?? response.statusText, message, path);
}

/** A fetch with the token; throws ApiError for non-2xx answers. */
export async function apiFetchRaw(path: string, init: RequestInit = {}, signal?: AbortSignal): Promise<Response> {
  const token = await tokenProvider();
  const headers = new Headers(init.headers);
  if (!headers.has("Accept")) headers.set("Accept", "application/json");
  if (token) headers.set("Authorization", `Bearer ${token}`);
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers, signal: signal ?? init.signal });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, "NetworkError", "Cannot reach the portal API. Check your connection, or whether nexus-apiserver is running.", path);
  }
  if (!response.ok) {
    const error = await errorFrom(response, path);
    if (response.status === 401) onUnauthorized(error.message);
    throw error;
  }
  return response;
}

export async function apiFetch<T>(path: string, init: RequestInit = {}, signal?: AbortSignal): Promise<T> {
  const response = await apiFetchRaw(path, init, signal);
  return (await response.json()) as T;
}

export const api = {
  get: <T>(path: string, signal?: AbortSignal) => apiFetch<T>(`/api/v1${path}`, {}, signal),
  /** A text answer (rendered runbooks are HTML fragments). */
  text: async (path: string, signal?: AbortSignal) =>
    (await apiFetchRaw(`/api/v1${path}`, { headers: { Accept: "text/html" } }, signal)).text(),
  /** POST a JSON body; the answer is JSON. Errors are ApiError with the server's message verbatim. */
  post: <T>(path: string, body: unknown, signal?: AbortSignal) =>
    apiFetch<T>(`/api/v1${path}`, { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } }, signal),
};
