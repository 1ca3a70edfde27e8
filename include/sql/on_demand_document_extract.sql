-- On-demand document: the one customer record a request (the DAG run's params) is about.
-- Bound parameters: customer_id, document_type ('policy_certificate' | 'duplicate_welcome'),
-- channel ('preferred' or a channel name), policy_id (NULL: the customer's first policy).
-- The data interval is not used: the request says what to send, whenever it arrives.
-- A certificate needs a policy of that customer: without one no row is returned, and the
-- suite's row count (exactly one) fails the run before anything is sent, as it does for an
-- unknown customer id or a customer id with several source records.
-- requested_channel is NULL for 'preferred': routing then follows the customer's preference.
-- request_id (optional) is the caller's idempotency key: the subject of the document, so a
-- request repeated under the same id (a client retry) sends nothing new.
{% from "_customer_contact.sql" import customer_columns, consent_columns, consent_joins %}
SELECT
    c.row_id,
    {{ customer_columns() }},
    c.joined_at,
    {{ consent_columns() }},
    p.policy_id,
    p.product,
    p.premium_cents,
    p.currency,
    p.start_date,
    p.end_date,
    p.status AS policy_status,
    CASE WHEN CAST(:document_type AS TEXT) = 'duplicate_welcome' THEN 'welcome'
         ELSE CAST(:document_type AS TEXT) END AS communication,
    CASE WHEN CAST(:channel AS TEXT) = 'preferred' THEN NULL
         ELSE CAST(:channel AS TEXT) END AS requested_channel,
    CASE WHEN CAST(:request_id AS TEXT) IS NULL THEN NULL
         ELSE 'request-' || CAST(:request_id AS TEXT) END AS subject_key
FROM customers AS c
{{ consent_joins() }}
LEFT JOIN policies AS p
    ON p.policy_id = (
        SELECT p1.policy_id
        FROM policies AS p1
        WHERE p1.customer_id = c.customer_id
          AND p1.policy_id = COALESCE(CAST(:policy_id AS TEXT), p1.policy_id)
        ORDER BY p1.start_date, p1.policy_id
        LIMIT 1
    )
WHERE c.customer_id = CAST(:customer_id AS TEXT)
  AND (CAST(:document_type AS TEXT) <> 'policy_certificate' OR p.policy_id IS NOT NULL)
ORDER BY c.row_id
