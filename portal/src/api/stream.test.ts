import { SseParser } from "./stream";

describe("SseParser", () => {
  it("parses events split across chunks, ignores comments, joins data lines", () => {
    const p = new SseParser();
    expect(p.push("event: ready\ndata: {\"cache\"")).toEqual([]);
    expect(p.push(":{\"synced\":true}}\n\n: keep-alive\n\n")).toEqual([{ event: "ready", data: '{"cache":{"synced":true}}', id: undefined }]);
    const events = p.push("event: change\r\nid: 42\r\ndata: line1\r\ndata: line2\r\n\r\ndata: plain\n\n");
    expect(events).toEqual([
      { event: "change", data: "line1\nline2", id: "42" },
      { event: "message", data: "plain", id: "42" },
    ]);
  });

  it("does not emit an event before its blank line", () => {
    const p = new SseParser();
    expect(p.push("event: change\ndata: x\n")).toEqual([]);
    expect(p.push("\n")).toHaveLength(1);
  });
});
