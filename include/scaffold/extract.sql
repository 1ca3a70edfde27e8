-- %Title% (scaffolded by `missiva new-journey`): one row per %journey%_events row that
-- occurred in the run's data interval, half-open [interval_start, interval_end) on
-- occurred_at ('YYYY-MM-DD HH:MM:SS' UTC), with the event as the idempotency subject
-- (subject_key: each event is answered once, whichever run finds it), and the customer's
-- contact data and transactional consents routing reads (0 without a row). A customer
-- number with several customer rows (a source defect) takes its first row.
-- Replace the table and the WHERE clause with your journey's. Bound parameters only (named
-- interval_start / interval_end and the DAG's params; never format data into SQL).
{% from "_customer_contact.sql" import customer_columns, consent_columns, consent_joins, policy_holder %}
SELECT
    e.event_id AS row_id,
    '%journey%-' || CAST(e.event_id AS TEXT) AS subject_key,
    e.occurred_at,
    {{ customer_columns() }},
    {{ consent_columns() }}
FROM %journey%_events AS e
{{ policy_holder("e.customer_id") }}
{{ consent_joins() }}
WHERE e.occurred_at >= :interval_start
  AND e.occurred_at < :interval_end
ORDER BY e.event_id
