import { ApiError, apiFetchRaw } from "./client";

/** Opens a streaming GET and returns its body, or throws ApiError. */
export async function apiFetchStream(path: string, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  const response = await apiFetchRaw(path, { headers: { Accept: "text/event-stream" } }, signal);
  if (!response.body) throw new ApiError(0, "NoBody", "The browser gave no stream body.", path);
  return response.body;
}
