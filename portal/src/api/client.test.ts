import { QueryClient } from "@tanstack/react-query";
import { ApiError, apiFetch, configureClient, queryString } from "./client";
import { applyEvent } from "./live";

afterEach(() => vi.unstubAllGlobals());

describe("client", () => {
  it("builds query strings without empty values", () => {
    expect(queryString({ q: "pay", kind: ["component", "api"], tag: [], limit: 25, cursor: undefined, facets: false })).toBe(
      "?q=pay&kind=component%2Capi&limit=25&facets=false",
    );
    expect(queryString({})).toBe("");
  });

  it("sends the bearer token and turns Status answers into ApiError", async () => {
    const fetch = vi.fn().mockResolvedValue(
      new Response(JSON.stringify({ kind: "Status", code: 403, reason: "Forbidden", message: 'user "x" cannot list resource "searches"' }), { status: 403 }),
    );
    vi.stubGlobal("fetch", fetch);
    const unauthorized = vi.fn();
    configureClient(async () => "tok", unauthorized);
    const error = await apiFetch("/api/v1/search").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(403);
    expect((error as ApiError).message).toContain('cannot list resource "searches"');
    expect((fetch.mock.calls[0]![1] as RequestInit).headers).toBeInstanceOf(Headers);
    expect(((fetch.mock.calls[0]![1] as RequestInit).headers as Headers).get("Authorization")).toBe("Bearer tok");
    expect(unauthorized).not.toHaveBeenCalled();
  });

  it("signs out on 401 and explains network failures", async () => {
    const unauthorized = vi.fn();
    configureClient(async () => "expired", unauthorized);
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(new Response(JSON.stringify({ kind: "Status", code: 401, reason: "Unauthorized", message: "token expired" }), { status: 401 })));
    await expect(apiFetch("/api/v1/me")).rejects.toThrow("token expired");
    expect(unauthorized).toHaveBeenCalledWith("token expired");

    vi.stubGlobal("fetch", vi.fn().mockRejectedValue(new TypeError("Failed to fetch")));
    const e = (await apiFetch("/api/v1/me").catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(0);
    expect(e.message).toMatch(/Cannot reach the portal API/);
  });
});

describe("live updates", () => {
  it("a change invalidates that entity at once and schedules the rest", () => {
    const client = new QueryClient();
    client.setQueryData(["entity", "component:a/x"], { v: 1 });
    client.setQueryData(["entity", "component:a/y"], { v: 1 });
    const broad = vi.fn();
    const change = applyEvent(client, { event: "change", data: JSON.stringify({ type: "MODIFIED", ref: "component:a/x" }) }, broad);
    expect(change?.ref).toBe("component:a/x");
    expect(client.getQueryState(["entity", "component:a/x"])?.isInvalidated).toBe(true);
    expect(client.getQueryState(["entity", "component:a/y"])?.isInvalidated).toBe(false);
    expect(broad).toHaveBeenCalledTimes(1);

    applyEvent(client, { event: "resync", data: "{}" }, broad);
    expect(client.getQueryState(["entity", "component:a/y"])?.isInvalidated).toBe(true);
    expect(applyEvent(client, { event: "change", data: "not json" }, broad)).toBeNull();
  });
});
