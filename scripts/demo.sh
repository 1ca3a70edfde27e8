#!/usr/bin/env bash
# make demo: seed the demo core systems, run the onboarding journey through Airflow
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
log="$MISSIVA_HOME/onboarding-$day.log"
echo "== airflow dags test onboarding $run_at, data interval = $day (log: $log)"
if ! airflow dags test onboarding "$run_at" > "$log" 2>&1; then
  grep -E "ERROR|Failed|failed|Exception" "$log" | tail -n 20 >&2 || tail -n 40 "$log" >&2
  echo "the onboarding run failed; full log: $log" >&2
  exit 1
fi

echo
missiva report --dag-id onboarding
cat <<SUMMARY

Outputs
  e-mails received by the SMTP sink: $(find "$MISSIVA_HOME/mail/new" -type f | wc -l) in $MISSIVA_HOME/mail/new
  SMS received by the SMS sink:      $(find "$MISSIVA_HOME/sms" -name '*.json' | wc -l) in $MISSIVA_HOME/sms
  letters for print:                 $(find "$MISSIVA_HOME/print/onboarding/$day" -maxdepth 1 -name '*.pdf' | wc -l) in $MISSIVA_HOME/print/onboarding/$day
  print-ready batches + manifests:   $MISSIVA_HOME/print/onboarding/$day/batches
  archived artifacts (SHA-256):      $MISSIVA_HOME/archive
  ledger:                            $MISSIVA_HOME/ledger.db
Audit, for example
  .venv/bin/missiva audit trace --customer $(missiva audit list --journey onboarding --limit 1 --json | python -c 'import json,sys; print(json.load(sys.stdin)[0]["customer_id"])') --json
  .venv/bin/missiva audit list --journey onboarding --limit 5 --json
Watch it in the Airflow UI: make airflow
Done in $(( $(date +%s) - started )) s.
SUMMARY
