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

{{/* The environment variable that carries an instance's client secret (or,
with clientIdFrom, its client id): COUPA_SECRET_<NAME>, NAME upper-cased with
"-" as "_". */}}
{{- define "coupa-kafka.instanceSecretEnv" -}}
{{- printf "COUPA_SECRET_%s" (. | toString | upper | replace "-" "_") }}
{{- end }}
{{- define "coupa-kafka.instanceClientIdEnv" -}}
{{- printf "COUPA_CLIENT_ID_%s" (. | toString | upper | replace "-" "_") }}
{{- end }}

{{/* Where the COUPA_CONFIG file is mounted. */}}
{{- define "coupa-kafka.configDir" -}}/etc/coupa-kafka/config{{- end }}
{{- define "coupa-kafka.configFile" -}}coupa-kafka.yaml{{- end }}

{{/* "true" when the chart renders its own Secret: no existingSecret, and
something to put in it (the single instance's OAuth client, or a password). */}}
{{- define "coupa-kafka.chartSecret" -}}
{{- if and (not .Values.existingSecret) (or (not .Values.instances) .Values.kafka.sasl.password .Values.schemaRegistry.password) }}true{{ end }}
{{- end }}

{{/* The COUPA_CONFIG file made of .Values.instances (the contract of
instances.Load): secrets only by reference, as client_secret_env. Strings are
written JSON-quoted, which YAML reads as they are. */}}
{{- define "coupa-kafka.instancesConfig" -}}
# COUPA_CONFIG, rendered by the coupa-kafka chart from .Values.instances.
# No secret is in this file: client_secret_env names an environment variable
# that the Deployment sets from a Secret (secretKeyRef).
instances:
{{- range $in := .Values.instances }}
  - name: {{ get $in "name" | toString | toJson }}
    url: {{ get $in "url" | toString | toJson }}
    {{- if get $in "clientIdFrom" }}
    client_id_env: {{ include "coupa-kafka.instanceClientIdEnv" (get $in "name") }}
    {{- else }}
    client_id: {{ get $in "clientId" | toString | toJson }}
    {{- end }}
    client_secret_env: {{ include "coupa-kafka.instanceSecretEnv" (get $in "name") }}
    {{- with get $in "tables" }}
    tables:
      {{- range . }}
      - {{ . | toString | toJson }}
      {{- end }}
    {{- end }}
    {{- with get $in "topicPrefix" }}
    topic_prefix: {{ . | toString | toJson }}
    {{- end }}
    {{- with get $in "rateLimit" }}
    rate_limit: {{ . }}
    {{- end }}
{{- end }}
{{- end }}

{{/* Checks .Values.instances; fails with a message naming the entry. */}}
{{- define "coupa-kafka.validateInstances" -}}
{{- $c := .Values.coupa }}
{{- if or $c.instanceUrl $c.clientId $c.clientSecret }}
{{- fail "instances and coupa.instanceUrl/coupa.clientId/coupa.clientSecret are both set: use one or the other. With instances, each entry has its url, clientId and clientSecretFrom (the chart sets COUPA_CONFIG, and COUPA_CONFIG with COUPA_INSTANCE_URL is a configuration error): unset coupa.instanceUrl, coupa.clientId and coupa.clientSecret" }}
{{- end }}
{{- if not (kindIs "slice" .Values.instances) }}
{{- fail "instances must be a list of {name, url, clientId, clientSecretFrom: {secretName, key}, ...}" }}
{{- end }}
{{- $allowed := list "name" "url" "clientId" "clientIdFrom" "clientSecretFrom" "tables" "topicPrefix" "rateLimit" }}
{{- $names := dict }}
{{- $envs := dict }}
{{- range $i, $in := .Values.instances }}
{{- $at := printf "instances[%d]" $i }}
{{- if not (kindIs "map" $in) }}
{{- fail (printf "%s: want a mapping {name, url, clientId, clientSecretFrom: {secretName, key}, ...}" $at) }}
{{- end }}
{{- $name := get $in "name" | toString }}
{{- if hasKey $in "name" }}{{ $at = printf "instances[%d] (%s)" $i $name }}{{ end }}
{{- range $k, $_ := $in }}
{{- if eq $k "clientSecret" }}
{{- fail (printf "%s: clientSecret must not be in values: put the secret in a Secret and name it with clientSecretFrom: {secretName, key}" $at) }}
{{- end }}
{{- if not (has $k $allowed) }}
{{- fail (printf "%s: unknown key %q (known: %s)" $at $k (join ", " $allowed)) }}
{{- end }}
{{- end }}
{{- if not (regexMatch "^[a-z0-9][a-z0-9_-]{0,63}$" $name) }}
{{- fail (printf "%s: name %q: want 1 to 64 of a-z, 0-9, _ and -, starting with a letter or digit" $at $name) }}
{{- end }}
{{- if hasKey $names $name }}
{{- fail (printf "%s: name %q is used twice" $at $name) }}
{{- end }}
{{- $_ := set $names $name true }}
{{- $env := include "coupa-kafka.instanceSecretEnv" $name }}
{{- if hasKey $envs $env }}
{{- fail (printf "%s: name %q gives the variable %s, as %q does: names that differ only in - and _ cannot both be used" $at $name $env (get $envs $env)) }}
{{- end }}
{{- $_ := set $envs $env $name }}
{{- if not (get $in "url") }}
{{- fail (printf "%s: url is required, e.g. https://acme.coupahost.com" $at) }}
{{- end }}
{{- if eq (empty (get $in "clientId")) (empty (get $in "clientIdFrom")) }}
{{- fail (printf "%s: set exactly one of clientId and clientIdFrom: {secretName, key}" $at) }}
{{- end }}
{{- range $ref := list "clientIdFrom" "clientSecretFrom" }}
{{- $from := get $in $ref }}
{{- if or $from (eq $ref "clientSecretFrom") }}
{{- if not (and (kindIs "map" $from) (get (default dict $from) "secretName") (get (default dict $from) "key")) }}
{{- fail (printf "%s: %s: {secretName, key} of the Secret that holds the client %s is required" $at $ref (ternary "id" "secret" (eq $ref "clientIdFrom"))) }}
{{- end }}
{{- end }}
{{- end }}
{{- with get $in "tables" }}
{{- if not (kindIs "slice" .) }}
{{- fail (printf "%s: tables must be a list, e.g. [invoices, suppliers]" $at) }}
{{- end }}
{{- end }}
{{- with get $in "rateLimit" }}
{{- if or (not (or (kindIs "float64" .) (kindIs "int" .) (kindIs "int64" .))) (le (float64 .) 0.0) (gt (float64 .) 25.0) }}
{{- fail (printf "%s: rateLimit %v is outside (0, 25]: Coupa allows 25 requests per second per instance" $at .) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Fails the render with a clear message when a required value is missing or wrong. */}}
{{- define "coupa-kafka.validate" -}}
{{- if not .Values.image.repository }}
{{- fail "image.repository is required: no coupa-kafka image is published; build it (docker build -t REGISTRY/coupa-kafka:TAG . in the repository root, see deploy/README.md), push it, and set image.repository" }}
{{- end }}
{{- if .Values.instances }}
{{- include "coupa-kafka.validateInstances" . }}
{{- else }}
{{- if not .Values.coupa.instanceUrl }}
{{- fail "coupa.instanceUrl is required (COUPA_INSTANCE_URL), e.g. https://acme.coupahost.com; or list several instances in instances" }}
{{- end }}
{{- if and (not .Values.existingSecret) (or (not .Values.coupa.clientId) (not .Values.coupa.clientSecret)) }}
{{- fail "set coupa.clientId and coupa.clientSecret, or existingSecret naming a Secret that holds them" }}
{{- end }}
{{- end }}
{{- if not .Values.kafka.brokers }}
{{- fail "kafka.brokers is required (KAFKA_BROKERS): a list of bootstrap servers" }}
{{- end }}
{{- if not .Values.schemaRegistry.url }}
{{- fail "schemaRegistry.url is required (SCHEMA_REGISTRY_URL)" }}
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
{{- $pdb := .Values.podDisruptionBudget }}
{{- if and $pdb.enabled (not (or (kindIs "float64" $pdb.maxUnavailable) (kindIs "int" $pdb.maxUnavailable) (kindIs "int64" $pdb.maxUnavailable) (and (kindIs "string" $pdb.maxUnavailable) (regexMatch "^[0-9]+%$" $pdb.maxUnavailable)))) }}
{{- fail "podDisruptionBudget.maxUnavailable: a number of pods or a percentage such as \"50%\"" }}
{{- end }}
{{- end }}
