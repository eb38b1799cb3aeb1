"""json_line_problem: why an NDJSON line is not JSON, and in which field

Revision ID: 20261206_01
Revises: 20261123_11
Create Date: 2026-12-06
"""

from alembic import op

revision = "20261206_01"
down_revision = "20261123_11"
branch_labels = None
depends_on = None

SCHEMA = "segmentation"


def upgrade() -> None:
    # Called only for the lines parse_jsonb refused: a subtransaction each, which a valid file never pays.
    # The field: the line again with each token Postgres refuses (NaN, Infinity, \u0000, a surrogate escape)
    # replaced by a mark (U+FDD2, a noncharacter), parsed and walked to the first value holding the mark, its
    # keys joined with dots (consent.email). NULL when no value holds it (a key, the line's shape). Messages in
    # the import's words.
    op.execute(rf"""
        CREATE FUNCTION {SCHEMA}.json_line_problem(value text, OUT field text, OUT message text)
        LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
        DECLARE
            error text;
            detail text;
            mark constant text := U&'\FDD2';
            marked jsonb;
        BEGIN
            PERFORM value::jsonb;
            message := 'is not a JSON object';
        EXCEPTION WHEN others THEN
            GET STACKED DIAGNOSTICS error = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
            message := CASE
                WHEN detail ~ '^Token "[-+]?(NaN|Infinity)" is invalid'
                    THEN 'must be a number: NaN and Infinity are not JSON'
                WHEN detail LIKE '\\u0000 %'
                    THEN 'holds \u0000 (NUL), which text cannot hold'
                WHEN detail LIKE '%surrogate%'
                    THEN 'holds a lone surrogate (\ud800 to \udfff), which is not a character'
                ELSE 'is not JSON: ' || error || coalesce(' (' || detail || ')', '')
            END;
            BEGIN
                marked := regexp_replace(regexp_replace(
                    value, '([:\[,]\s*)[-+]?(NaN|Infinity)', '\1"\\ufdd2"', 'g'),
                    '\\u0000|\\u[dD][89abAB][0-9a-fA-F]{{2}}(?!\\u[dD][c-fC-F])'
                    '|(?<!\\u[dD][89abAB][0-9a-fA-F]{{2}})\\u[dD][c-fC-F][0-9a-fA-F]{{2}}', '\\ufdd2', 'g')::jsonb;
            EXCEPTION WHEN others THEN
                RETURN;  -- broken in another way too: the message says what Postgres saw, without a field
            END;
            WITH RECURSIVE walk(path, item) AS (
                SELECT ARRAY[]::text[], marked
                UNION ALL
                SELECT walk.path || child.key, child.item
                FROM walk, LATERAL (
                    SELECT member.k, member.v
                    FROM jsonb_each(CASE jsonb_typeof(walk.item) WHEN 'object' THEN walk.item END) AS member(k, v)
                    UNION ALL
                    SELECT (element.n - 1)::text, element.v
                    FROM jsonb_array_elements(CASE jsonb_typeof(walk.item) WHEN 'array' THEN walk.item END)
                         WITH ORDINALITY AS element(v, n)
                ) AS child(key, item)
            )
            SELECT array_to_string(path, '.') INTO field FROM walk
            WHERE jsonb_typeof(item) = 'string' AND strpos(item #>> '{{}}', mark) > 0
              AND strpos(array_to_string(path, '.'), mark) = 0
            LIMIT 1;
        END $$
    """)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SCHEMA}.json_line_problem(text)")
