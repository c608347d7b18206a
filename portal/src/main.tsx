import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import type { PortalConfig } from "./api/types";
import "./styles.css";

const root = createRoot(document.getElementById("root")!);

async function boot() {
  let config: PortalConfig;
  try {
    const response = await fetch("/config.json", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`/config.json answered ${response.status}`);
    config = (await response.json()) as PortalConfig;
  } catch (e) {
    root.render(
      <main className="boot-error" role="alert">
        <h1>Nexus cannot start</h1>
        <p>
          The portal could not read its configuration ({(e as Error).message}). It is served by nexus-apiserver
          with <code>--portal-assets-dir</code>; check that the apiserver is running, then reload.
        </p>
        <button type="button" onClick={() => window.location.reload()}>Reload</button>
      </main>,
    );
    return;
  }
  root.render(
    <StrictMode>
      <App config={config} />
    </StrictMode>,
  );
}

void boot();
