-- Missiva's databases on the team stack's Postgres (docker-compose.yaml mounts this
-- into /docker-entrypoint-initdb.d/: run once, when the data volume is first made).
CREATE DATABASE missiva_ledger OWNER airflow;
CREATE DATABASE missiva_core OWNER airflow;
