{#- Shared pieces of the extract queries (Jinja macros, imported with
    {% from "_customer_contact.sql" import ... %}): the customer's contact data and
    transactional consents that routing reads. Static SQL only: data is always bound. -#}

{% macro customer_columns() -%}
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
    c.do_not_contact
{%- endmacro %}

{% macro consent_columns() -%}
COALESCE(ce.granted, 0) AS consent_email_transactional,
    COALESCE(cp.granted, 0) AS consent_paper_transactional,
    COALESCE(cs.granted, 0) AS consent_sms_transactional
{%- endmacro %}

{% macro consent_joins() -%}
LEFT JOIN consents AS ce
    ON ce.customer_id = c.customer_id AND ce.channel = 'email' AND ce.purpose = 'transactional'
LEFT JOIN consents AS cp
    ON cp.customer_id = c.customer_id AND cp.channel = 'paper' AND cp.purpose = 'transactional'
LEFT JOIN consents AS cs
    ON cs.customer_id = c.customer_id AND cs.channel = 'sms' AND cs.purpose = 'transactional'
{%- endmacro %}

{% macro policy_holder(customer_id) -%}
JOIN customers AS c
    ON c.row_id = (
        SELECT MIN(c1.row_id) FROM customers AS c1 WHERE c1.customer_id = {{ customer_id }}
    )
{%- endmacro %}
