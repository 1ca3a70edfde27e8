-- Claims letters extract: one row per claim event that occurred in the run's data
-- interval, half-open [interval_start, interval_end) on occurred_at ('YYYY-MM-DD HH:MM:SS'
-- UTC), with the letter it asks for (communication), the event as the idempotency subject
-- (subject_key: each event is answered once, whichever run finds it), the claim and its
-- policy, and the customer's contact data and transactional consents (0 without a row).
-- A customer number with several customer rows (a source defect) takes its first row, so
-- that an event is never returned twice.
-- Bound parameters only (no colon-prefixed names in comments); SQLite and Postgres.
{% from "_customer_contact.sql" import customer_columns, consent_columns, consent_joins, policy_holder %}
SELECT
    e.event_id AS row_id,
    'event-' || CAST(e.event_id AS TEXT) AS subject_key,
    CASE e.kind
        WHEN 'acknowledgement' THEN 'claim_acknowledgement'
        WHEN 'documents_request' THEN 'claim_documents_request'
        WHEN 'decision' THEN 'claim_decision'
    END AS communication,
    e.kind AS event_kind,
    e.occurred_at,
    e.documents,
    e.respond_by,
    e.decision,
    e.settlement_cents,
    e.decision_reason,
    k.claim_id,
    k.opened_at AS claim_opened_at,
    k.amount_cents AS claimed_cents,
    p.policy_id,
    p.product,
    p.currency,
    {{ customer_columns() }},
    {{ consent_columns() }}
FROM claim_events AS e
JOIN claims AS k ON k.claim_id = e.claim_id
JOIN policies AS p ON p.policy_id = k.policy_id
{{ policy_holder("e.customer_id") }}
{{ consent_joins() }}
WHERE e.occurred_at >= :interval_start
  AND e.occurred_at < :interval_end
ORDER BY e.event_id
