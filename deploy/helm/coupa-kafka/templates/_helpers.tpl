{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "coupa-kafka.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name. */}}
{{- define "coupa-kafka.fullname" -}}
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

{{- define "coupa-kafka.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "coupa-kafka.selectorLabels" -}}
app.kubernetes.io/name: {{ include "coupa-kafka.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "coupa-kafka.labels" -}}
helm.sh/chart: {{ include "coupa-kafka.chart" . }}
{{ include "coupa-kafka.selectorLabels" . }}
app.kubernetes.io/version: {{ (default .Chart.AppVersion .Values.image.tag) | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "coupa-kafka.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "coupa-kafka.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding the OAuth client and optional passwords. */}}
{{- define "coupa-kafka.secretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- include "coupa-kafka.fullname" . }}
{{- end }}
{{- end }}

{{- define "coupa-kafka.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Fails the render with a clear message when a required value is missing or wrong. */}}
{{- define "coupa-kafka.validate" -}}
{{- if not .Values.image.repository }}
{{- fail "image.repository is required: no coupa-kafka image is published; build it (docker build -t REGISTRY/coupa-kafka:TAG . in the repository root, see deploy/README.md), push it, and set image.repository" }}
{{- end }}
{{- if not .Values.coupa.instanceUrl }}
{{- fail "coupa.instanceUrl is required (COUPA_INSTANCE_URL), e.g. https://acme.coupahost.com" }}
{{- end }}
{{- if not .Values.kafka.brokers }}
{{- fail "kafka.brokers is required (KAFKA_BROKERS): a list of bootstrap servers" }}
{{- end }}
{{- if not .Values.schemaRegistry.url }}
{{- fail "schemaRegistry.url is required (SCHEMA_REGISTRY_URL)" }}
{{- end }}
{{- if and (not .Values.existingSecret) (or (not .Values.coupa.clientId) (not .Values.coupa.clientSecret)) }}
{{- fail "set coupa.clientId and coupa.clientSecret, or existingSecret naming a Secret that holds them" }}
{{- end }}
{{- $m := .Values.kafka.sasl.mechanism }}
{{- if and $m (not (has $m (list "PLAIN" "SCRAM-SHA-256" "SCRAM-SHA-512"))) }}
{{- fail (printf "kafka.sasl.mechanism %q: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512" $m) }}
{{- end }}
{{- if and $m (not .Values.kafka.sasl.username) }}
{{- fail "kafka.sasl.username is required with kafka.sasl.mechanism" }}
{{- end }}
{{- if and $m (not .Values.existingSecret) (not .Values.kafka.sasl.password) }}
{{- fail "kafka.sasl.password is required with kafka.sasl.mechanism (or put it in existingSecret)" }}
{{- end }}
{{- if and .Values.kafka.tls.secretName (not .Values.kafka.tls.enabled) }}
{{- fail "kafka.tls.secretName is set but kafka.tls.enabled is false" }}
{{- end }}
{{- if and (or .Values.kafka.tls.certKey .Values.kafka.tls.keyKey) .Values.kafka.tls.secretName (not (and .Values.kafka.tls.certKey .Values.kafka.tls.keyKey)) }}
{{- fail "kafka.tls.certKey and kafka.tls.keyKey go together (client certificate and its key)" }}
{{- end }}
{{- end }}
