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
    # The field is the last key before where Postgres stopped, from the error's context (the line up to there);
    # NULL when the problem is not in a value (a key, the line's shape). Messages in the import's words.
    op.execute(rf"""
        CREATE FUNCTION {SCHEMA}.json_line_problem(value text, OUT field text, OUT message text)
        LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
        DECLARE
            error text;
            detail text;
            context text;
        BEGIN
            PERFORM value::jsonb;
            message := 'is not a JSON object';
        EXCEPTION WHEN others THEN
            GET STACKED DIAGNOSTICS error = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, context = PG_EXCEPTION_CONTEXT;
            context := substring(split_part(context, E'\n', 1) from '^JSON data, line \d+: (.*)\.\.\.$');
            field := substring(context from '"((?:[^"\\]|\\.)*)"\s*:\s*(?:"(?:[^"\\]|\\.)*"?|[^"{{}}\[\],:]*)$');
            message := CASE
                WHEN detail ~ '^Token "[-+]?(NaN|Infinity)" is invalid'
                    THEN 'must be a number: NaN and Infinity are not JSON'
                WHEN detail LIKE '\\u0000 %'
                    THEN 'holds \u0000 (NUL), which text cannot hold'
                WHEN detail LIKE '%surrogate%'
                    THEN 'holds a lone surrogate (\ud800 to \udfff), which is not a character'
                ELSE 'is not JSON: ' || error || coalesce(' (' || detail || ')', '')
            END;
        END $$
    """)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SCHEMA}.json_line_problem(text)")
