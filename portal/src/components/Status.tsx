// Loading states and errors a person can act on (never a blank page).
import { Link } from "react-router";
import { isApiError } from "../api/client";

export function Loading({ label = "Loading" }: { label?: string }) {
  return (
    <div className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label}…
    </div>
  );
}

/** What went wrong and what to do about it. */
export function explain(error: unknown): { title: string; body: string; action?: "retry" | "signin" | "home" } {
  if (isApiError(error)) {
    switch (error.status) {
      case 0:
        return { title: "Cannot reach Nexus", body: error.message, action: "retry" };
      case 400:
        return { title: "The request was not understood", body: `${error.message}. Change the filters or the address and try again.`, action: "home" };
      case 401:
        return { title: "Please sign in again", body: error.message, action: "signin" };
      case 403:
        return {
          title: "You do not have access",
          body: `Kubernetes RBAC does not allow this for your account: ${error.message}. Ask your team lead or a platform engineer for the role that grants it (the nexus-* ClusterRoles, bound to your Entra group).`,
        };
      case 404:
        return {
          title: "Not found",
          body: "It does not exist, or your account may not see it (Nexus answers the same for both, so hidden entities stay hidden). Check the address, or search for it.",
          action: "home",
        };
      case 503:
        return { title: "Nexus cannot check permissions right now", body: `${error.message}. This usually means the Kubernetes API is unreachable; try again in a minute.`, action: "retry" };
      default:
        return { title: `Something went wrong (${error.status})`, body: error.message, action: "retry" };
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/dynamically imported module|Failed to fetch|Importing a module script failed/i.test(message)) {
    return { title: "The portal was updated", body: "This page's code changed on the server. Reload to get the new version.", action: "retry" };
  }
  return { title: "Something went wrong", body: message, action: "retry" };
}

export function ErrorMessage({ error, retry }: { error: unknown; retry?: () => void }) {
  const { title, body, action } = explain(error);
  const status = isApiError(error) ? error.status : undefined;
  return (
    <div className="error" role="alert" data-status={status}>
      <h2>{title}</h2>
      <p>{body}</p>
      <div className="error-actions">
        {action === "retry" && (
          <button type="button" onClick={() => (retry ? retry() : window.location.reload())}>
            Try again
          </button>
        )}
        {action === "signin" && <Link to="/signin">Sign in</Link>}
        {action === "home" && <Link to="/">Go to your dashboard</Link>}
      </div>
    </div>
  );
}

export function Empty({ children }: { children: React.ReactNode }) {
  return <p className="empty">{children}</p>;
}
