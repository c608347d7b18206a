// The builder's palette: rules over what the catalog holds today, and rules over facts (some
// without a source yet: they show as unknown until it is integrated). See docs/scorecards.md.
export interface Snippet {
  id: string;
  title: string;
  group: "Catalog" | "Delivery" | "Security" | "Azure" | "Facts not integrated yet";
  weight: number;
  expression: string;
  message: string;
  facts?: string[];
}

export const SNIPPETS: Snippet[] = [
  {
    id: "owner-assigned", title: "Owner assigned", group: "Catalog", weight: 2,
    expression: "has(entity.status) && has(entity.status.owner)",
    message: "Set spec.owner to the Team that owns it (or let CODEOWNERS, Azure tags or an Entra group decide).",
  },
  {
    id: "on-call-owner", title: "On-call owner assigned", group: "Catalog", weight: 3,
    expression: "relations.ownedBy.exists(o, has(o.spec.onCall))",
    message: "Give it an owning Team with an on-call rota (the Team's spec.onCall).",
  },
  {
    id: "runbook-linked", title: "Runbook linked", group: "Catalog", weight: 2,
    expression: "size(relations.hasRunbook) > 0",
    message: "Link a runbook: add a Runbook whose spec.appliesTo names this component.",
  },
  {
    id: "description-set", title: "Description written", group: "Catalog", weight: 1,
    expression: "has(entity.spec.description) && size(entity.spec.description) >= 20",
    message: "Describe what it does in spec.description (a sentence or two).",
  },
  {
    id: "system-set", title: "Part of a system", group: "Catalog", weight: 1,
    expression: "has(entity.spec.system)",
    message: "Set spec.system to the System it belongs to.",
  },
  {
    id: "lifecycle-production", title: "Lifecycle declared", group: "Catalog", weight: 1,
    expression: "has(entity.spec.lifecycle) && entity.spec.lifecycle in ['experimental', 'production', 'deprecated']",
    message: "Declare spec.lifecycle: experimental, production or deprecated.",
  },
  {
    id: "repository-linked", title: "Repository linked", group: "Delivery", weight: 1,
    expression: "size(relations.hasRepository) > 0",
    message: "Set spec.repository to the Repository that holds the code.",
  },
  {
    id: "pipeline-linked", title: "Built by a pipeline", group: "Delivery", weight: 2,
    expression: "size(relations.builtBy) > 0",
    message: "Link the CI pipeline that builds it (Pipeline spec.builds).",
  },
  {
    id: "deployed-recently", title: "Deployed in the last 30 days", group: "Delivery", weight: 2,
    expression: "has(entity.status.deployments) && entity.status.deployments.exists(d, has(d.createdAt) && timestamp(d.createdAt) > now - duration('720h'))",
    message: "Ship at least once a month; deployments arrive from GitHub deployments and Azure DevOps releases.",
  },
  {
    id: "branch-protection", title: "Branch protection on", group: "Security", weight: 3,
    facts: ["github.branchProtection"],
    expression: "facts.github.branchProtection.protected && !facts.github.branchProtection.allowForcePushes",
    message: "Protect the default branch and forbid force pushes (branch protection or a ruleset).",
  },
  {
    id: "no-critical-cves", title: "No critical vulnerabilities", group: "Security", weight: 3,
    facts: ["github.vulnerabilities"],
    expression: "facts.github.vulnerabilities.filter(v, v.severity == 'critical').size() == 0",
    message: "Upgrade the packages with critical vulnerabilities (Dependabot lists the fixed versions).",
  },
  {
    id: "codeowners", title: "CODEOWNERS present", group: "Security", weight: 1,
    facts: ["github.codeowners"],
    expression: "size(facts.github.codeowners.owners) > 0",
    message: "Add a CODEOWNERS file naming the owning team.",
  },
  {
    id: "resources-tagged", title: "Azure resources tagged", group: "Azure", weight: 3,
    facts: ["azure.resources"],
    expression: "facts.azure.resources.all(r, 'cost-center' in r.tags && r.tags['cost-center'] != '')",
    message: "Tag every Azure resource with a non-empty cost-center.",
  },
  {
    id: "eu-regions", title: "Resources in EU regions", group: "Azure", weight: 3,
    facts: ["azure.resources"],
    expression: "facts.azure.resources.all(r, r.region in ['westeurope', 'northeurope', 'global'])",
    message: "Move resources to an approved EU region (westeurope, northeurope).",
  },
  {
    id: "health-probes", title: "Health probes configured", group: "Facts not integrated yet", weight: 2,
    facts: ["kubernetes.probes"],
    expression: "facts.kubernetes.probes.liveness && facts.kubernetes.probes.readiness",
    message: "Configure liveness and readiness probes on every container.",
  },
  {
    id: "alerts-set", title: "Alerts set", group: "Facts not integrated yet", weight: 2,
    facts: ["monitor.alertRules"],
    expression: "facts.monitor.alertRules.enabled > 0",
    message: "Create an enabled Azure Monitor alert rule on availability or error rate.",
  },
  {
    id: "slo-documented", title: "SLO documented", group: "Facts not integrated yet", weight: 1,
    facts: ["slo.objectives"],
    expression: "size(facts.slo.objectives) > 0",
    message: "Define at least one service-level objective.",
  },
  {
    id: "custom-rule", title: "Custom rule", group: "Catalog", weight: 1,
    expression: "true",
    message: "Say what the engineer should do when this fails.",
  },
];
