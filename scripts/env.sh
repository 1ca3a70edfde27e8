#!/usr/bin/env bash
# make env: the Makefile's environment as `export` lines, for a shell of your own:
#   eval "$(make -s env)"; airflow dags test onboarding 2026-11-03
# The sinks are not started: `make run` starts them, or `missiva smtp-sink`/`sms-sink`.
set -euo pipefail
quote() { local q="'\\''"; printf "'%s'" "${1//\'/$q}"; }
printf 'export PATH=%s:"$PATH"\n' "$(quote "$(cd "$(dirname "$0")/.." && pwd)/.venv/bin")"
while IFS= read -r name; do
  printf 'export %s=%s\n' "$name" "$(quote "${!name}")"
done < <(compgen -e | grep -E '^(AIRFLOW_|AIRFLOW__|MISSIVA_|GX_ANALYTICS_|SMTP_PORT$|SMS_PORT$|UI_PORT$)' | sort)
