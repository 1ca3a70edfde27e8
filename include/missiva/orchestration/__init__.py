"""Everything in Missiva that imports Airflow: thin adapters from tasks to the core."""
