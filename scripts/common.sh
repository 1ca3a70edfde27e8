# Shared by demo.sh and airflow.sh (sourced): the embedded Airflow DB and the SMTP and
# SMS sinks.

migrate_airflow() {
  mkdir -p "$AIRFLOW_HOME"
  echo "== Airflow metadata DB (SQLite) in $AIRFLOW_HOME"
  if ! airflow db migrate > "$MISSIVA_HOME/airflow-migrate.log" 2>&1; then
    tail -n 30 "$MISSIVA_HOME/airflow-migrate.log" >&2
    echo "airflow db migrate failed; full log: $MISSIVA_HOME/airflow-migrate.log" >&2
    exit 1
  fi
}

SINK_PIDS=()
trap 'kill "${SINK_PIDS[@]}" 2>/dev/null || true' EXIT

_port_open() {
  python -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $1)))"
}

start_sink() {  # $1 = what, $2 = port, $3 = the variable naming the port, then the command
  local what=$1 port=$2 variable=$3
  shift 3
  if _port_open "$port"; then
    echo "port $port is already in use: stop what listens there or run with $variable=<free port>" >&2
    exit 1
  fi
  "$@" > "$MISSIVA_HOME/$what-sink.log" 2>&1 &
  SINK_PIDS+=($!)
  for _ in $(seq 50); do
    _port_open "$port" && break
    sleep 0.2
  done
}

start_smtp_sink() {  # $1 = port; stops with the calling script
  start_sink smtp "$1" SMTP_PORT missiva smtp-sink --port "$1" --maildir "$MISSIVA_HOME/mail"
  echo "== SMTP sink on 127.0.0.1:$1, mail stored in $MISSIVA_HOME/mail"
}

start_sms_sink() {  # $1 = port; stops with the calling script
  start_sink sms "$1" SMS_PORT missiva sms-sink --port "$1" --out "$MISSIVA_HOME/sms"
  echo "== SMS provider sink on 127.0.0.1:$1, messages stored in $MISSIVA_HOME/sms"
}
