// Sign-in. Under `make dev` (dev-auth) pick one of the example users and the groups the token
// carries (the groups hack/dev-rbac.yaml binds); in production, Entra ID through MSAL.
import { useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { Navigate, useNavigate, useSearchParams } from "react-router";
import { apiFetch } from "../api/client";
import type { DevUser } from "../api/types";
import { useAuth } from "../auth/AuthContext";
import { ErrorMessage, Loading } from "../components/Status";
import { shortRef } from "../lib/refs";

/** Access profiles of hack/dev-rbac.yaml (dev sign-in only). */
export const DEV_PROFILES = [
  { id: "engineering", label: "Engineer", groups: ["nexus:engineering"], help: "nexus:engineering — reads the whole catalog" },
  { id: "contractor", label: "Contractor", groups: ["nexus:contractors"], help: "nexus:contractors — may use the portal but reads only team-checkout" },
  { id: "none", label: "No groups", groups: [], help: "no RoleBinding applies: what someone without a Nexus role sees" },
] as const;
const DEV_EXTRA_GROUPS = [
  { group: "nexus-developers", help: "may request action runs" },
  { group: "nexus-team-leads", help: "may approve action runs" },
  { group: "nexus-platform-engineers", help: "may write the organisation's scorecards (the builder's Apply)" },
];

function safeNext(next: string | null) {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

function DevSignIn({ next }: { next: string }) {
  const { signInDev, notice } = useAuth();
  const navigate = useNavigate();
  const users = useQuery({
    queryKey: ["dev-users"],
    queryFn: ({ signal }) => apiFetch<{ users: DevUser[] }>("/api/v1/dev/users", {}, signal),
    staleTime: Infinity,
  });
  const [filter, setFilter] = useState("");
  const [chosen, setChosen] = useState<string>("");
  const [profile, setProfile] = useState<string>("engineering");
  const [extra, setExtra] = useState<string[]>([]);
  const [other, setOther] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const list = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const all = [...(users.data?.users ?? [])].sort((a, b) => a.name.localeCompare(b.name));
    return f ? all.filter((u) => `${u.name} ${u.email ?? ""} ${u.teams.join(" ")}`.toLowerCase().includes(f)) : all;
  }, [users.data, filter]);

  const groups = [
    ...(DEV_PROFILES.find((p) => p.id === profile)?.groups ?? []),
    ...extra,
    ...other.split(",").map((g) => g.trim()).filter(Boolean),
  ];

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const user = users.data?.users.find((u) => u.ref === chosen);
    if (!user) return;
    setBusy(true);
    setError(null);
    try {
      const login = user.email || user.ref.split("/").pop()!;
      const answer = await apiFetch<{ token: string; user: string; groups: string[] }>("/api/v1/dev/token", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user: login, groups }),
      });
      signInDev({ token: answer.token, user: answer.user, groups: answer.groups });
      navigate(next, { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (users.isPending) return <Loading label="Loading the example users" />;
  if (users.error) return <ErrorMessage error={users.error} retry={() => void users.refetch()} />;

  return (
    <form onSubmit={submit} className="signin-form">
      <p className="notice">
        Development sign-in: nexus-apiserver runs with <code>--dev-auth</code> (make dev). Pick an example user; the token
        carries the groups you choose, and Kubernetes RBAC decides what they see.
      </p>
      {notice && <p className="warning" role="status">{notice}</p>}
      <fieldset>
        <legend>User</legend>
        <label htmlFor="user-filter">Filter users</label>
        <input id="user-filter" type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="Name, email or team" />
        {list.length === 0 ? (
          <p className="empty">
            {users.data?.users.length ? "No user matches the filter." : "The catalog has no User entities yet: apply examples/ (make dev does) and reload."}
          </p>
        ) : (
          <div className="user-list" role="radiogroup" aria-label="Example users">
            {list.map((u) => (
              <label key={u.ref} className={`user-option${chosen === u.ref ? " chosen" : ""}`}>
                <input type="radio" name="user" value={u.ref} checked={chosen === u.ref} onChange={() => setChosen(u.ref)} />
                <span className="user-option-name">{u.name}</span>
                <span className="muted small">{u.email ?? shortRef(u.ref)}</span>
                {u.teams.length > 0 && <span className="muted small">{u.teams.map((t) => shortRef(t, false)).join(", ")}</span>}
              </label>
            ))}
          </div>
        )}
      </fieldset>
      <fieldset>
        <legend>Access</legend>
        {DEV_PROFILES.map((p) => (
          <label key={p.id} className="choice">
            <input type="radio" name="profile" value={p.id} checked={profile === p.id} onChange={() => setProfile(p.id)} />
            {p.label} <span className="muted small">({p.help})</span>
          </label>
        ))}
        {DEV_EXTRA_GROUPS.map((g) => (
          <label key={g.group} className="choice">
            <input
              type="checkbox"
              checked={extra.includes(g.group)}
              onChange={(e) => setExtra((x) => (e.target.checked ? [...x, g.group] : x.filter((y) => y !== g.group)))}
            />
            {g.group} <span className="muted small">({g.help})</span>
          </label>
        ))}
        <label htmlFor="other-groups">Other groups (comma-separated)</label>
        <input id="other-groups" value={other} onChange={(e) => setOther(e.target.value)} placeholder="e.g. an Entra group object id" />
      </fieldset>
      {error ? <ErrorMessage error={error} /> : null}
      <button type="submit" className="primary" disabled={!chosen || busy}>
        {busy ? "Signing in…" : chosen ? `Sign in as ${users.data?.users.find((u) => u.ref === chosen)?.name}` : "Choose a user to sign in"}
      </button>
    </form>
  );
}

function MsalSignIn({ next }: { next: string }) {
  const { signInMsal, error, notice } = useAuth();
  const [failure, setFailure] = useState<string | null>(null);
  return (
    <div className="signin-form">
      {notice && <p className="warning" role="status">{notice}</p>}
      {(error || failure) && <p className="error" role="alert">{error ?? failure}</p>}
      <button
        type="button"
        className="primary"
        onClick={() => signInMsal(next).catch((e: Error) => setFailure(`Sign-in failed: ${e.message}`))}
      >
        Sign in with Microsoft Entra ID
      </button>
      <p className="muted small">You will be sent to your organisation's sign-in page and brought back here.</p>
    </div>
  );
}

export default function SignIn() {
  const { mode, status, returnTo } = useAuth();
  const [params] = useSearchParams();
  const next = safeNext(params.get("next") ?? returnTo);

  useEffect(() => {
    document.title = "Sign in · Nexus";
  }, []);

  if (status === "signedIn") return <Navigate to={next} replace />;
  return (
    <main id="main" className="signin">
      <h1>
        <img src="/favicon.svg" alt="" width="32" height="32" /> Sign in to Nexus
      </h1>
      {status === "loading" ? (
        <Loading label="Starting sign-in" />
      ) : mode === "dev" ? (
        <DevSignIn next={next} />
      ) : mode === "msal" ? (
        <MsalSignIn next={next} />
      ) : (
        <div className="error" role="alert">
          <h2>Sign-in is not configured</h2>
          <p>
            This nexus-apiserver has no sign-in for the portal. An administrator sets the Entra ID application with{" "}
            <code>--portal-msal-client-id</code> (chart value <code>apiserver.portal.ui.msal.clientId</code>); see docs/portal.md.
          </p>
        </div>
      )}
    </main>
  );
}
