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
