#!/usr/bin/env bash
# make demo: seed the demo core systems, run every journey through Airflow
# (`airflow dags test`), print what happened. Re-runnable: nothing is sent twice.
set -euo pipefail
day=$1 customers=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
started=$(date +%s)
mkdir -p "$MISSIVA_HOME"

migrate_airflow
echo "== Demo core systems"
missiva seed --customers "$customers" --joined-on "$day"
start_sinks
echo "== contact policy: $MISSIVA_CONTACT_POLICY"

# A manual run at midnight after $day processes the data interval [$day, $day + 1 day).
run_at=$(date -u -d "$day + 1 day" +%Y-%m-%d)

run_journey onboarding "$run_at"
run_journey renewal_notices "$run_at"
# Airflow 3.3.2's `dags test` cannot finish a DAG run that carries a deadline alert: the
# demo parses claims_letters without it (the scheduler of `make airflow` keeps it).
MISSIVA_DEADLINE_ALERTS=off run_journey claims_letters "$run_at"
# The monthly run of 2026-11-01 bills October.
run_journey billing_statements "$(date -u -d "$day" +%Y-%m-01)"
customer=$(missiva audit list --journey onboarding --json | python -c 'import json,sys; print(next(c["customer_id"] for c in json.load(sys.stdin) if c["status"] == "sent"))')
run_journey on_demand_document "$run_at" \
  -c "{\"customer_id\": \"$customer\", \"document_type\": \"policy_certificate\", \"channel\": \"portal\", \"request_id\": \"demo-certificate\"}"

cat <<SUMMARY

Outputs
  e-mails received by the SMTP sink: $(find "$MISSIVA_HOME/mail/new" -type f | wc -l) in $MISSIVA_HOME/mail/new
  SMS received by the SMS sink:      $(find "$MISSIVA_HOME/sms" -name '*.json' | wc -l) in $MISSIVA_HOME/sms
  letters for print:                 $(find "$MISSIVA_HOME/print" -name '*.pdf' -not -path '*/batches/*' | wc -l) in $MISSIVA_HOME/print/<journey>/<day>
  print-ready batches + manifests:   $MISSIVA_HOME/print/<journey>/<day>/batches
  portal inboxes:                    $MISSIVA_HOME/portal
  archived artifacts (SHA-256):      $MISSIVA_HOME/archive
  ledger:                            $MISSIVA_HOME/ledger.db
Audit, for example
  .venv/bin/missiva audit trace --customer $(missiva audit list --journey onboarding --limit 1 --json | python -c 'import json,sys; print(json.load(sys.stdin)[0]["customer_id"])') --json
  .venv/bin/missiva audit list --journey onboarding --limit 5 --json
Watch it in the Airflow UI: make airflow
Done in $(( $(date +%s) - started )) s.
SUMMARY
