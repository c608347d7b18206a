import { useEffect, useRef } from "react";
import { Link, NavLink, Outlet, useLocation } from "react-router";
import { useLive } from "../api/live";
import { useAuth } from "../auth/AuthContext";
import { SearchBox } from "./SearchBox";

function LiveIndicator() {
  const live = useLive();
  const label =
    live.state === "live"
      ? "Live"
      : live.state === "stale"
        ? "Behind"
        : live.state === "connecting"
          ? "Connecting"
          : "Offline";
  const title =
    live.detail ??
    (live.state === "live" ? "Changes made in Kubernetes appear here without a reload." : "Live updates are paused; pages show what they last loaded.");
  return (
    <span className={`live live-${live.state}`} title={title} role="status" aria-label={`Live updates: ${label}. ${title}`} data-changes={live.changes}>
      <span className="dot" aria-hidden="true" /> {label}
    </span>
  );
}

export function Layout() {
  const { user, signOut, mode } = useAuth();
  const location = useLocation();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);

  // Move focus to the new page's content after a navigation (screen readers announce it).
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }, [location.pathname]);

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand" aria-label="Nexus home">
          <img src="/favicon.svg" alt="" width="24" height="24" /> Nexus
        </Link>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Dashboard
          </NavLink>
          <NavLink to="/catalog">Catalog</NavLink>
          <NavLink to="/actions">Actions</NavLink>
          <NavLink to="/approvals">Approvals</NavLink>
          <NavLink to="/scorecards">Scorecards</NavLink>
          <NavLink to="/dora">DORA</NavLink>
          <NavLink to="/runbooks">Runbooks</NavLink>
        </nav>
        <SearchBox />
        <LiveIndicator />
        <div className="user">
          <span className="user-name" title={mode === "dev" ? "Dev sign-in (make dev)" : undefined}>
            {user}
          </span>
          <button type="button" className="link-button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <Outlet />
      </main>
    </>
  );
}
