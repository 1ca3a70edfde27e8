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
SELECT
    c.row_id,
    c.customer_id,
    c.first_name,
    c.last_name,
    c.email,
    c.phone,
    c.language,
    c.timezone,
    c.address_line1,
    c.address_line2,
    c.postal_code,
    c.city,
    c.country,
    c.preferred_channel,
    c.do_not_contact,
    c.joined_at,
    COALESCE(ce.granted, 0) AS consent_email_transactional,
    COALESCE(cp.granted, 0) AS consent_paper_transactional,
    COALESCE(cs.granted, 0) AS consent_sms_transactional,
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
LEFT JOIN consents AS ce
    ON ce.customer_id = c.customer_id AND ce.channel = 'email' AND ce.purpose = 'transactional'
LEFT JOIN consents AS cp
    ON cp.customer_id = c.customer_id AND cp.channel = 'paper' AND cp.purpose = 'transactional'
LEFT JOIN consents AS cs
    ON cs.customer_id = c.customer_id AND cs.channel = 'sms' AND cs.purpose = 'transactional'
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
