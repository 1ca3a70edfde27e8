#!/usr/bin/env bash
# make demo: seed the demo core systems, run every journey through Airflow
# (`airflow dags test`), print what happened. Re-runnable: nothing is sent twice.
set -euo pipefail
day=$1 customers=$2 port=$3 sms_port=$4
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
started=$(date +%s)
mkdir -p "$MISSIVA_HOME"

migrate_airflow
echo "== Demo core systems"
missiva seed --customers "$customers" --joined-on "$day"
start_smtp_sink "$port"
start_sms_sink "$sms_port"
# The demo must not depend on the hour it runs at: the production policy without quiet hours
export MISSIVA_CONTACT_POLICY=${MISSIVA_CONTACT_POLICY:-$here/../include/contact_policy_no_quiet_hours.toml}

# A manual run at midnight after $day processes the data interval [$day, $day + 1 day).
run_at=$(date -u -d "$day + 1 day" +%Y-%m-%d)

run_journey() {  # $1 = dag id, $2 = run date, then extra `airflow dags test` arguments
  local dag=$1 date=$2 log="$MISSIVA_HOME/$1-$2.log"
  shift 2
  echo "== airflow dags test $dag $date $* (log: $log)"
  if ! airflow dags test "$dag" "$date" "$@" > "$log" 2>&1; then
    grep -E "ERROR|Failed|failed|Exception" "$log" | tail -n 20 >&2 || tail -n 40 "$log" >&2
    echo "the $dag run failed; full log: $log" >&2
    exit 1
  fi
  missiva report --dag-id "$dag"
  echo
}

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
