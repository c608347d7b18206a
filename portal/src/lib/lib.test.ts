import { directions } from "./graph";
import { filtersFromParams, paramsFromFilters, toggleValue } from "./filters";
import { entityPath, parseRef, refPath, shortRef } from "./refs";
import { conditionSentence, conditionTone, ownerSourceText, timeAgo } from "./words";

describe("refs", () => {
  it("parses references and builds portal paths", () => {
    expect(parseRef("component:team-checkout/checkout-api")).toEqual({ kind: "component", namespace: "team-checkout", name: "checkout-api" });
    expect(parseRef("not a ref")).toBeNull();
    expect(refPath("API:team-a/orders")).toBe("/entities/api/team-a/orders");
    expect(entityPath({ kind: "AzureResource", namespace: "ns", name: "kv 1" })).toBe("/entities/azureresource/ns/kv%201");
    expect(shortRef("team:nexus-org/checkout", false)).toBe("checkout");
  });
});

describe("filters", () => {
  it("round-trip through the URL and toggle values", () => {
    const f = filtersFromParams(new URLSearchParams("q=pay&kind=component,api&tag=pci&tag=go&sort=name"));
    expect(f).toEqual({ q: "pay", kind: ["component", "api"], tag: ["pci", "go"], sort: "name" });
    expect(paramsFromFilters(f).toString()).toBe("q=pay&kind=component%2Capi&tag=pci%2Cgo&sort=name");
    expect(toggleValue(f, "kind", "api").kind).toEqual(["component"]);
    expect(toggleValue({}, "owner", "team:a/b").owner).toEqual(["team:a/b"]);
    expect(toggleValue({ lifecycle: ["production"] }, "lifecycle", "production").lifecycle).toBeUndefined();
  });
});

describe("words", () => {
  it("explains conditions in plain words", () => {
    expect(conditionSentence({ type: "Ready", status: "True" })).toMatch(/^Ready: Nexus resolved everything/);
    const unresolved = { type: "RelationsResolved", status: "False" as const, reason: "DanglingReference", message: "component:a/b not found" };
    expect(conditionSentence(unresolved)).toBe("Some references point at entities that do not exist (yet): component:a/b not found.");
    expect(conditionTone(unresolved)).toBe("bad");
    expect(conditionTone({ type: "Stalled", status: "False" })).toBe("ok");
    expect(conditionTone({ type: "Stalled", status: "True" })).toBe("bad");
    expect(conditionTone({ type: "Ready", status: "Unknown" })).toBe("pending");
    expect(ownerSourceText("codeowners")).toMatch(/CODEOWNERS/);
    expect(conditionSentence({ type: "Ready", status: "True", message: "all references resolve" })).toMatch(/declares\. All references resolve\.$/);
  });

  it("says how long ago", () => {
    const now = Date.parse("2026-01-10T12:00:00Z");
    expect(timeAgo("2026-01-10T11:57:00Z", now)).toBe("3 minutes ago");
    expect(timeAgo("2026-01-08T12:00:00Z", now)).toBe("2 days ago");
    expect(timeAgo("2026-01-10T11:59:59Z", now)).toBe("just now");
    expect(timeAgo(undefined, now)).toBe("");
  });
});

describe("graph directions", () => {
  it("follows needs transitively, in the declared direction of each relation", () => {
    const edges = [
      { from: "component:a/web", to: "component:a/api", type: "dependsOn" },
      { from: "component:a/api", to: "api:a/orders", type: "consumesApi" },
      { from: "component:a/orders", to: "api:a/orders", type: "providesApi" },
      { from: "component:a/api", to: "system:a/shop", type: "partOf" },
      { from: "component:a/api", to: "team:a/owners", type: "ownedBy" },
    ];
    const { upstream, downstream } = directions(edges, "component:a/api");
    expect([...upstream].sort()).toEqual(["api:a/orders", "component:a/orders"]);
    expect([...downstream].sort()).toEqual(["component:a/web", "system:a/shop"]);
    expect(upstream.has("team:a/owners") || downstream.has("team:a/owners")).toBe(false);
  });
});
