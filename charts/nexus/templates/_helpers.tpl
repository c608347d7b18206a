{{/*
Chart name, truncated to 63 characters (a DNS label).
*/}}
{{- define "nexus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: <release>-<chart> unless the release name already contains the chart
name. Truncated to 63 characters because some Kubernetes name fields are limited to that.
*/}}
{{- define "nexus.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of the controller's objects (Deployment, Service, ClusterRole, …).
*/}}
{{- define "nexus.controller.fullname" -}}
{{- printf "%s-controller" (include "nexus.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Value of the helm.sh/chart label.
*/}}
{{- define "nexus.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Standard labels for every object of the release.
*/}}
{{- define "nexus.labels" -}}
helm.sh/chart: {{ include "nexus.chart" . }}
app.kubernetes.io/name: {{ include "nexus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nexus
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels of the controller's objects.
*/}}
{{- define "nexus.controller.labels" -}}
{{ include "nexus.labels" . }}
app.kubernetes.io/component: controller
{{- end }}

{{/*
Selector labels of the controller's pods: stable across upgrades (no version, no chart).
*/}}
{{- define "nexus.controller.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nexus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/*
Name of the controller's ServiceAccount.
*/}}
{{- define "nexus.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nexus.controller.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Controller image reference: repository:tag (tag defaults to the chart's appVersion), or
repository@digest when a digest is pinned.
*/}}
{{- define "nexus.controller.image" -}}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Plural resource names of every catalog.nexus.dev kind, as a YAML list. Keep in step with crds/
(test.sh checks that every CRD in crds/ is listed here).
*/}}
{{- define "nexus.catalog.resources" -}}
- apis
- azureresources
- components
- domains
- environments
- incidents
- packages
- pipelines
- repositories
- runbooks
- systems
- teams
- users
- workitems
{{- end }}

{{/*
Catalog kinds every developer may create, update and delete in the namespaces where they are
bound. Teams, Environments, AzureResources, Domains and Users are organisation structure and
identity (a User's entraObjectId is how a signed-in person is matched), so only platform
engineers manage those.
*/}}
{{- define "nexus.catalog.developerResources" -}}
- apis
- components
- incidents
- packages
- pipelines
- repositories
- runbooks
- systems
- workitems
{{- end }}

{{/*
Catalog kinds platform engineers manage on top of the developer's.
*/}}
{{- define "nexus.catalog.platformResources" -}}
- azureresources
- domains
- environments
- teams
- users
{{- end }}

{{/*
The `<plural>/status` subresources of every catalog kind, as a YAML list.
*/}}
{{- define "nexus.catalog.statusResources" -}}
{{- $out := list }}
{{- range (include "nexus.catalog.resources" . | fromYamlArray) }}
{{- $out = append $out (printf "- %s/status" .) }}
{{- end }}
{{- join "\n" $out }}
{{- end }}

{{/*
Rules the controller needs on the catalog, shared by the ClusterRole (cluster-wide) and the Role
(watchNamespace set).
*/}}
{{- define "nexus.controller.catalogRules" -}}
- apiGroups: ["catalog.nexus.dev"]
  resources:
    {{- include "nexus.catalog.resources" . | nindent 4 }}
  verbs: ["get", "list", "watch"]
- apiGroups: ["catalog.nexus.dev"]
  resources:
    {{- include "nexus.catalog.statusResources" . | nindent 4 }}
  verbs: ["get", "patch", "update"]
{{- if .Values.ingestion.enabled }}
# Ingestion creates the entities it discovers (labelled app.kubernetes.io/managed-by:
# nexus-<source>), updates them by server-side apply, and deletes only those it created when
# their source deletes them.
- apiGroups: ["catalog.nexus.dev"]
  resources:
    {{- include "nexus.catalog.resources" . | nindent 4 }}
  verbs: ["create", "patch", "delete"]
{{- end }}
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/*
Name of a binding rendered from .Values.roleBindings: nexus-<role>-<group>, or the entry's name.
Called with (dict "binding" $b).
*/}}
{{- define "nexus.roleBindingName" -}}
{{- default (printf "nexus-%s-%s" .binding.role (lower .binding.group)) .binding.name | trunc 253 }}
{{- end }}

{{/*
--metrics-addr value: host:port, with IPv6 hosts in brackets.
*/}}
{{- define "nexus.metricsAddr" -}}
{{- $host := .Values.metrics.bindAddress }}
{{- if and (contains ":" $host) (not (hasPrefix "[" $host)) }}
{{- $host = printf "[%s]" $host }}
{{- end }}
{{- printf "%s:%v" $host .Values.metrics.port }}
{{- end }}

{{/*
---------------------------------------------------------------------------------------------
nexus-apiserver: the read cache served as the aggregated API portal.nexus.dev and as the portal
API.
*/}}

{{/*
Name of the apiserver's objects (Deployment, Service, ServiceAccount, ClusterRole, …). The
APIService points at the Service of this name.
*/}}
{{- define "nexus.apiserver.fullname" -}}
{{- printf "%s-apiserver" (include "nexus.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of the apiserver's objects.
*/}}
{{- define "nexus.apiserver.labels" -}}
{{ include "nexus.labels" . }}
app.kubernetes.io/component: apiserver
{{- end }}

{{/*
Selector labels of the apiserver's pods: stable across upgrades (no version, no chart).
*/}}
{{- define "nexus.apiserver.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nexus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: apiserver
{{- end }}

{{/*
Name of the apiserver's ServiceAccount.
*/}}
{{- define "nexus.apiserver.serviceAccountName" -}}
{{- if .Values.apiserver.serviceAccount.create }}
{{- default (include "nexus.apiserver.fullname" .) .Values.apiserver.serviceAccount.name }}
{{- else }}
{{- required "apiserver.serviceAccount.name is required when apiserver.serviceAccount.create is false" .Values.apiserver.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Apiserver image reference: repository:tag (tag defaults to the chart's appVersion), or
repository@digest when a digest is pinned.
*/}}
{{- define "nexus.apiserver.image" -}}
{{- $img := .Values.apiserver.image }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) }}
{{- end }}
{{- end }}

{{/*
Name of the Secret with the serving certificate of the aggregated API (tls.crt, tls.key): the
one the chart (helm mode) or cert-manager creates, or the existing one (secret mode).
*/}}
{{- define "nexus.apiserver.tlsSecretName" -}}
{{- $tls := .Values.apiserver.tls }}
{{- if eq $tls.mode "secret" }}
{{- required "apiserver.tls.secretName is required when apiserver.tls.mode is secret: name an existing kubernetes.io/tls Secret in the release namespace" $tls.secretName }}
{{- else }}
{{- default (printf "%s-tls" (include "nexus.apiserver.fullname" .)) $tls.secretName | trunc 253 }}
{{- end }}
{{- end }}

{{/*
DNS names of the apiserver's Service; the serving certificate carries all of them.
*/}}
{{- define "nexus.apiserver.dnsNames" -}}
{{- $svc := include "nexus.apiserver.fullname" . }}
{{- $ns := .Release.Namespace }}
- {{ $svc }}
- {{ $svc }}.{{ $ns }}
- {{ $svc }}.{{ $ns }}.svc
- {{ $svc }}.{{ $ns }}.svc.cluster.local
{{- end }}

{{/*
"true" when the portal face (/api/v1 with Entra ID tokens) is on, i.e. an OIDC issuer is set;
empty otherwise.
*/}}
{{- define "nexus.apiserver.portalEnabled" -}}
{{- if .Values.apiserver.portal.oidc.issuerUrl }}true{{ end }}
{{- end }}

{{/*
Resources of the aggregated API portal.nexus.dev/v1alpha1, as a YAML list: entities (namespaced:
get, list), searches (cluster: list), graphs, impacts, teamviews (namespaced: get), dashboards
(cluster: get), facets (cluster: list), insights (cluster: get; the leadership views, named
heatmap, rankings, distribution, trends, dora, dora-trend).
*/}}
{{- define "nexus.portal.resources" -}}
- entities
- searches
- graphs
- impacts
- teamviews
- dashboards
- facets
- insights
{{- end }}

{{/*
Rules the apiserver needs on the catalog: read, never write. Shared by the ClusterRole
(cluster-wide) and the Role (watchNamespace set).
*/}}
{{- define "nexus.apiserver.catalogRules" -}}
- apiGroups: ["catalog.nexus.dev"]
  resources:
    {{- include "nexus.catalog.resources" . | nindent 4 }}
  verbs: ["get", "list", "watch"]
# Scorecard titles and ladders, and the daily snapshots behind the score trends (insights).
- apiGroups: ["scorecards.nexus.dev"]
  resources: ["scorecards", "scorecardsnapshots"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{/*
Refuse settings that would switch on the apiserver's development sign-in (locally signed tokens).
The chart has no value for it; this closes the extraArgs/extraEnv back door.
*/}}
{{- define "nexus.apiserver.validate" -}}
{{- $a := .Values.apiserver }}
{{- range $a.extraArgs }}
{{- if or (hasPrefix "--dev-auth" .) (hasPrefix "--dev-key-file" .) }}
{{- fail (printf "apiserver.extraArgs: %q is not allowed: development sign-in cannot be enabled from the chart (it accepts locally signed tokens)" .) }}
{{- end }}
{{- end }}
{{- range $a.extraEnv }}
{{- if has .name (list "NEXUS_DEV_AUTH" "NEXUS_DEV_KEY_FILE") }}
{{- fail (printf "apiserver.extraEnv: %s is not allowed: development sign-in cannot be enabled from the chart (it accepts locally signed tokens)" .name) }}
{{- end }}
{{- end }}
{{- if and $a.portal.oidc.issuerUrl (not $a.portal.oidc.audiences) }}
{{- fail "apiserver.portal.oidc.audiences is required when apiserver.portal.oidc.issuerUrl is set: the client id (or App ID URI) of the portal's Entra ID app registration" }}
{{- end }}
{{- if and $a.portal.ingress.enabled (not $a.portal.oidc.issuerUrl) }}
{{- fail "apiserver.portal.ingress.enabled needs apiserver.portal.oidc.issuerUrl: without OIDC the portal API is not served" }}
{{- end }}
{{- if and $a.portal.ingress.enabled (not $a.portal.ingress.host) }}
{{- fail "apiserver.portal.ingress.host is required when apiserver.portal.ingress.enabled is true" }}
{{- end }}
{{- end }}

{{/*
The integration kinds (integrations.nexus.dev).
*/}}
{{- define "nexus.integration.resources" -}}
- githubintegrations
- azuredevopsintegrations
- azuresubscriptionsources
- incidentsources
{{- end }}

{{/*
Namespace holding the integration objects and their Secrets: ingestion.namespace, else the
release namespace.
*/}}
{{- define "nexus.ingestion.namespace" -}}
{{- default .Release.Namespace .Values.ingestion.namespace }}
{{- end }}

{{/*
"true" when the controller serves the file audit log to nexus-apiserver (/audit/entries on the
webhook listener) for the portal's audit page.
*/}}
{{- define "nexus.auditPortal" -}}
{{- $a := .Values.actions.audit -}}
{{- if and $a.enabled $a.portal.enabled .Values.ingestion.enabled .Values.apiserver.enabled -}}true{{- end -}}
{{- end -}}

{{/* The Secret holding the audit endpoint's shared bearer token. */}}
{{- define "nexus.auditTokenSecret" -}}
{{- .Values.actions.audit.portal.existingSecret | default (printf "%s-audit-token" (include "nexus.fullname" .)) -}}
{{- end -}}
