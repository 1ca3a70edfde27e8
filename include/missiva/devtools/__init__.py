"""Development tools: demo data seeders, local SMTP/SMS sinks, benchmarks, the journey scaffold."""
