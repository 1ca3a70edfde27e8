# Shared by demo.sh and airflow.sh (sourced): the embedded Airflow DB and the SMTP sink.

migrate_airflow() {
  mkdir -p "$AIRFLOW_HOME"
  echo "== Airflow metadata DB (SQLite) in $AIRFLOW_HOME"
  if ! airflow db migrate > "$MISSIVA_HOME/airflow-migrate.log" 2>&1; then
    tail -n 30 "$MISSIVA_HOME/airflow-migrate.log" >&2
    echo "airflow db migrate failed; full log: $MISSIVA_HOME/airflow-migrate.log" >&2
    exit 1
  fi
}

start_smtp_sink() {  # $1 = port; stops with the calling script
  local port=$1
  if python -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)))"; then
    echo "port $port is already in use: stop what listens there or run with SMTP_PORT=<free port>" >&2
    exit 1
  fi
  missiva smtp-sink --port "$port" --maildir "$MISSIVA_HOME/mail" > "$MISSIVA_HOME/smtp-sink.log" 2>&1 &
  SINK_PID=$!
  trap 'kill $SINK_PID 2>/dev/null || true' EXIT
  for _ in $(seq 50); do
    python -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)))" && break
    sleep 0.2
  done
  echo "== SMTP sink on 127.0.0.1:$port, mail stored in $MISSIVA_HOME/mail"
}
