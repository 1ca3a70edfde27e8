"""Missiva: customer communications management on Apache Airflow 3."""
