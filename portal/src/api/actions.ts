// Self-service actions on the portal API: the catalogue, runs, approvals and the audit trail.
// Reads come from nexus-apiserver's cache (filtered by RBAC like entities); writes are made by
// the server as the signed-in user (impersonation), so Kubernetes RBAC and the approval
// admission policies decide exactly as they do for kubectl.
import { useMutation, useQuery, useQueryClient, keepPreviousData } from "@tanstack/react-query";
import { api, apiFetch, queryString } from "./client";
import type { Condition, Freshness } from "./types";

export interface Subjects {
  groups?: string[];
  users?: string[];
}

export interface ApprovalStagePolicy {
  name: string;
  required: number;
  approvers: Subjects;
}

export interface ActionSummary {
  namespace: string;
  name: string;
  title: string;
  description?: string;
  category?: string;
  version: string;
  targetKinds: string[];
  /** The inputs as a JSON Schema (an object schema), or null when the action takes none. */
  inputs: JsonSchema | null;
  approval: { stages: ApprovalStagePolicy[]; timeout: string; onTimeout: string };
  gate?: { scorecards: string[] };
  timeout: string;
  ready: boolean;
  readyMessage?: string;
  canRun: boolean;
  whyNot?: string;
}

export type JsonSchema = Record<string, unknown>;

export interface RecordedApproval {
  name: string;
  author: string;
  decision: "Approve" | "Reject";
  comment?: string;
  time: string;
}

export interface StageState {
  name: string;
  required: number;
  /** `Waiting`, `Open`, `Approved`, `Rejected`, `Expired`. */
  state: string;
  approvals: RecordedApproval[];
}

export interface RunSummary {
  namespace: string;
  name: string;
  action: string;
  actionTitle?: string;
  target?: string;
  requester: string;
  phase: string;
  attempt: number;
  cancel: boolean;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  message?: string;
  stages: StageState[];
}

export interface ApprovalObject {
  name: string;
  stage: string;
  decision: "Approve" | "Reject";
  author: string;
  comment?: string;
  createdAt: string;
  counted?: boolean;
  countedMessage?: string;
}

export interface RunDetail extends RunSummary, Freshness {
  inputs?: Record<string, unknown> | null;
  outputs: Record<string, string>;
  logTail: string[];
  execution?: { attempt: number; executor: string; reference?: string; startedAt: string; finishedAt?: string; command?: string[] };
  approvalDeadline?: string;
  rollbackRun?: string;
  conditions: Condition[];
  approvals: ApprovalObject[];
  canApprove: { stage?: string; allowed: boolean; whyNot?: string };
  canCancel: boolean;
}

export interface InboxItem {
  run: RunSummary;
  stage: string;
  required: number;
  approved: number;
}

/** One entry of the controller's hash-chained audit log, as `/api/v1/audit` gives it. */
export interface AuditEntry {
  seq: number;
  time: string;
  /** `run.created`, `approval.recorded`, `run.succeeded`, … */
  kind: string;
  namespace: string;
  /** The run's name. */
  run: string;
  action: string;
  target?: string;
  actor: string;
  details: Record<string, unknown> | null;
  hash: string;
  prev: string;
}

export interface ListAnswer<T> extends Freshness {
  items: T[];
  continue?: string;
}

export interface RunFilters {
  namespace?: string;
  target?: string;
  action?: string;
  requester?: string;
  phase?: string;
  limit?: number;
}

const enc = encodeURIComponent;
const runPath = (namespace: string, name: string) => `/runs/${enc(namespace)}/${enc(name)}`;

/** Where the run page of a run is. */
export function runUrl(r: { namespace: string; name: string }) {
  return `/runs/${enc(r.namespace)}/${enc(r.name)}`;
}

export function actionUrl(a: { namespace: string; name: string }, target?: string) {
  return `/actions/${enc(a.namespace)}/${enc(a.name)}${target ? queryString({ target }) : ""}`;
}

export function useActions(filters: { namespace?: string; target?: string } = {}, enabled = true) {
  return useQuery({
    queryKey: ["actions", filters],
    queryFn: ({ signal }) => api.get<ListAnswer<ActionSummary>>(`/actions${queryString(filters)}`, signal),
    enabled,
  });
}

export function useAction(namespace: string, name: string) {
  return useQuery({
    queryKey: ["actions", "one", namespace, name],
    queryFn: ({ signal }) => api.get<ActionSummary>(`/actions/${enc(namespace)}/${enc(name)}`, signal),
  });
}

export function useRuns(filters: RunFilters, enabled = true) {
  return useQuery({
    queryKey: ["runs", filters],
    queryFn: ({ signal }) => api.get<ListAnswer<RunSummary>>(`/runs${queryString({ ...filters })}`, signal),
    placeholderData: keepPreviousData,
    enabled,
  });
}

export function useRun(namespace: string, name: string) {
  return useQuery({
    queryKey: ["run", `${namespace}/${name}`],
    queryFn: ({ signal }) => api.get<RunDetail>(runPath(namespace, name), signal),
  });
}

export function useInbox() {
  return useQuery({
    queryKey: ["inbox"],
    queryFn: ({ signal }) => api.get<ListAnswer<InboxItem>>("/approvals/inbox", signal),
  });
}

export function useAudit(filters: { namespace?: string; run?: string; actor?: string; limit?: number; continue?: string }) {
  return useQuery({
    queryKey: ["audit", filters],
    queryFn: ({ signal }) => api.get<ListAnswer<AuditEntry> & { source?: string }>(`/audit${queryString(filters)}`, signal),
    placeholderData: keepPreviousData,
  });
}

async function post<T>(path: string, body?: unknown): Promise<T> {
  return apiFetch<T>(`/api/v1${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** After a write, what was on screen about runs may be out of date. */
function useRunWrite<V, T>(fn: (v: V) => Promise<T>) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: fn,
    onSettled: () => {
      for (const key of ["runs", "run", "inbox", "audit"]) void client.invalidateQueries({ queryKey: [key] });
    },
  });
}

export function useCreateRun(namespace: string) {
  return useRunWrite((body: { action: string; target?: string; inputs: Record<string, unknown> }) =>
    post<RunDetail>(`/runs/${enc(namespace)}`, body),
  );
}

export function useDecide(namespace: string, name: string) {
  return useRunWrite((body: { decision: "Approve" | "Reject"; stage?: string; comment?: string }) =>
    post<ApprovalObject>(`${runPath(namespace, name)}/approvals`, body),
  );
}

export function useCancelRun(namespace: string, name: string) {
  return useRunWrite(() => post<RunDetail>(`${runPath(namespace, name)}/cancel`));
}

export function useRetryRun(namespace: string, name: string) {
  return useRunWrite(() => post<RunDetail>(`${runPath(namespace, name)}/retry`));
}

/** Plain words and a tone for a run phase. */
export function phaseInfo(phase: string): { label: string; tone: "ok" | "bad" | "pending" | "neutral"; done: boolean } {
  switch (phase) {
    case "Succeeded":
      return { label: "Succeeded", tone: "ok", done: true };
    case "Failed":
      return { label: "Failed", tone: "bad", done: true };
    case "Rejected":
      return { label: "Rejected", tone: "bad", done: true };
    case "Expired":
      return { label: "Expired (not approved in time)", tone: "bad", done: true };
    case "Invalid":
      return { label: "Invalid inputs", tone: "bad", done: true };
    case "Refused":
      return { label: "Refused by a scorecard gate", tone: "bad", done: true };
    case "Cancelled":
      return { label: "Cancelled", tone: "neutral", done: true };
    case "RolledBack":
      return { label: "Rolled back", tone: "bad", done: true };
    case "WaitingForApproval":
      return { label: "Waiting for approval", tone: "pending", done: false };
    case "Approved":
      return { label: "Approved, starting", tone: "pending", done: false };
    case "Running":
      return { label: "Running", tone: "pending", done: false };
    case "Pending":
    case "":
      return { label: "Pending", tone: "pending", done: false };
    default:
      return { label: phase, tone: "neutral", done: false };
  }
}

/** Who may approve a stage, in words. */
export function approversText(s: Subjects): string {
  const parts = [...(s.users ?? []), ...(s.groups ?? []).map((g) => `group ${g}`)];
  return parts.length ? parts.join(", ") : "nobody";
}
