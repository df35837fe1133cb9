{{/*
Labels every object carries: the standard app.kubernetes.io set plus the chart version.
Call with (dict "root" $ "name" <service> "component" <app|envoy|prometheus|locust|test>).
*/}}
{{- define "tailstorm.labels" -}}
{{ include "tailstorm.selectorLabels" . }}
app.kubernetes.io/part-of: tailstorm
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 }}
{{- end -}}

{{/*
Selector labels: only what never changes over a release's life (no version, no chart label), so
an upgrade never needs a new selector. Same call shape as tailstorm.labels.
*/}}
{{- define "tailstorm.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The one image of tailstorm's containers. */}}
{{- define "tailstorm.image" -}}
image: {{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- end -}}

{{/*
Pod-level securityContext of the restricted Pod Security profile: non-root, seccomp RuntimeDefault.
The image's user is 10001; Prometheus' image runs as nobody (65534): pass the uid.
*/}}
{{- define "tailstorm.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container securityContext of the restricted profile, plus a read-only root filesystem. */}}
{{- define "tailstorm.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The Secret holding the admin token. */}}
{{- define "tailstorm.adminSecretName" -}}
{{- .Values.adminToken.existingSecret | default "tailstorm-admin" -}}
{{- end -}}
