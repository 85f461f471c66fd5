"""Reader functions for the people dashboard: activity per user and per day over a time range.

``usage_activity_hourly`` filters on computed columns (the hour's start as a timestamp, the
organization's name, the category's token), so a reader's range and filters reach no index
and every query unpivots every hourly row. Two functions (PostgreSQL only) answer what the
people dashboard asks, over the same rows and with the same numbers, reading whole closed UTC
days from the day blocks and only the rest from the hourly rows:

* ``usage_activity_per_user(from, to, organization, action)``: one row per user with active
  minutes in the range: user id, username, name, active minutes, active days (UTC days with
  minutes in the range) and the start of the last active hour in the range;
* ``usage_activity_per_day(from, to, organization, action)``: one row per UTC day with active
  minutes in the range: its midnight, active users and active minutes.

As in the view, an hour belongs to the range when its start does (``from`` ≤ start ≤ ``to``),
``organization`` is a name or ``any`` and ``action`` a category token or ``any``; only users
of the directory count. A UTC day that the range cuts and that is closed is read from its
shorter side: its day total less the hours outside the range, when those are fewer than the
hours inside. The last active hour is the hour of the user's newest minute (``last_seen``)
when that lies in the range, else the newest hour with minutes on the user's last active day.

Both run as their owner (``SECURITY DEFINER``, with a fixed ``search_path``), as a view does,
so a reader needs ``EXECUTE`` on them and nothing on the tables. The migration grants it to
every role that may read ``usage_activity_hourly`` (and to nobody else).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

TOKENS = ["any", "ide", "login", "app", "tunnel", "web_terminal"]  # category numbers 0 to 5
DAYS = [f"d{index:02d}" for index in range(32)]  # the day columns of a block
SIGNATURE = "(timestamptz, timestamptz, text, text)"
FUNCTIONS = ["usage_activity_per_user", "usage_activity_per_day"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar_one()
    op.execute(sa.text(_per_user(schema)))
    op.execute(sa.text(_per_day(schema)))
    readers = op.get_bind().execute(
        sa.text(
            "SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
            "ELSE CAST(CAST(a.grantee AS regrole) AS text) END "
            "FROM pg_class AS c, aclexplode(c.relacl) AS a "
            "WHERE c.oid = 'usage_activity_hourly'::regclass AND a.privilege_type = 'SELECT' "
            "AND a.grantee <> c.relowner"
        )
    )
    grantees = [str(row[0]) for row in readers]
    for function in FUNCTIONS:
        op.execute(sa.text(f"REVOKE ALL ON FUNCTION {function}{SIGNATURE} FROM PUBLIC"))
        for grantee in grantees:
            op.execute(sa.text(f"GRANT EXECUTE ON FUNCTION {function}{SIGNATURE} TO {grantee}"))


def _function(name: str, schema: str, returns: str, query: str) -> str:
    """A PL/pgSQL reader function: plan the range's reads, then run ``query`` on them.

    ``query`` is the text of a statement with ``%1$s`` (the pieces: user id, day number and
    minutes of the days read from the hourly rows or as one-sided day totals, not yet summed),
    ``%2$I`` (the hourly mask column), ``%3$I`` (the ``last_seen`` column) and ``%4$s``,
    ``%5$s``, ``%6$s`` (a block row's minutes, active days and last active day number on the
    whole closed days) in it, and parameters $1 (organization key), $2 (category), $3 and $4
    (the whole closed days, [$3, $4) as day numbers), $5 and $6 (the hours counted, [$5, $6)
    in epoch seconds).

    Planner settings: a hash aggregate of a few hundred thousand rows fits in ``work_mem``;
    no nested loop: the planner cannot see how many users the CTEs hold, and a nested loop
    over 10,000 of them that it expected to be one probes the hourly rows 10,000 times; and no
    JIT, whose compiling of the 64 aggregates per day block costs seconds to save milliseconds
    (the service turns it off in its own sessions for the same reason).
    """
    return f"""
CREATE OR REPLACE FUNCTION {name}(
    range_from timestamptz, range_to timestamptz, organization text, action text)
RETURNS TABLE ({returns})
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = {_quoted(schema)}, pg_temp
SET work_mem = '64MB' SET enable_nestloop = off SET jit = off
AS $function$
DECLARE
    category integer := array_position(ARRAY{TOKENS!r}::text[], action) - 1;
    org_key text;
    h0 bigint;  -- the hours counted: [h0, h1), epoch seconds
    h1 bigint;
    w0 bigint;  -- the whole closed days read from the blocks: [w0, w1), epoch seconds
    w1 bigint;
    open_from bigint;
    plus text[] := '{{}}';  -- hour ranges whose minutes count
    minus text[] := '{{}}';  -- hour ranges whose minutes come off a day total
    totals bigint[] := '{{}}';  -- days (epoch seconds) read as their day total
    parts text[] := '{{}}';
    blocks integer[];  -- the blocks of the whole closed days, and their first and last columns
    lows integer[];
    highs integer[];
    day_minutes text := '';  -- per block row: its minutes, active days and last active day
    day_count text := '';
    day_last text := '';
    day bigint;
    mask text := 'mask_' || action;
BEGIN
    IF organization = 'any' THEN
        org_key := '*';
    ELSE
        SELECT o.id INTO org_key FROM organizations AS o WHERE o.name = organization;
    END IF;
    h0 := ceil(extract(epoch FROM range_from) / 3600) * 3600;
    h1 := floor(extract(epoch FROM range_to) / 3600) * 3600 + 3600;
    IF category IS NULL OR org_key IS NULL OR h1 <= h0 THEN
        RETURN;
    END IF;
    SELECT CAST(s.first_open_day AS bigint) * 86400 INTO open_from
    FROM day_blocks_state AS s WHERE s.id = 1;
    w0 := h0 + (86400 - h0 % 86400) % 86400;
    w1 := least(h1 - h1 % 86400, open_from);
    IF w1 <= w0 THEN
        plus := plus || format('(a.hour >= %s AND a.hour < %s)', h0, h1);
        w0 := 0;
        w1 := 0;
    ELSE
        IF h0 < w0 THEN  -- the day the range starts in, cut at h0
            day := w0 - 86400;
            IF day < open_from AND h0 - day < w0 - h0 THEN
                totals := totals || day;
                minus := minus || format('(a.hour >= %s AND a.hour < %s)', day, h0);
            ELSE
                plus := plus || format('(a.hour >= %s AND a.hour < %s)', h0, w0);
            END IF;
        END IF;
        IF w1 < h1 THEN  -- open days, and the day the range ends in
            IF h1 < w1 + 86400 AND w1 < open_from AND w1 + 86400 - h1 < h1 - w1 THEN
                totals := totals || w1;
                minus := minus || format('(a.hour >= %s AND a.hour < %s)', h1, w1 + 86400);
            ELSE
                plus := plus || format('(a.hour >= %s AND a.hour < %s)', w1, h1);
            END IF;
        END IF;
    END IF;
    IF cardinality(plus) > 0 THEN
        parts := parts || format(
            'SELECT CAST(a.user_id AS text) AS user_id, a.hour / 86400 AS day, '
            'CAST(bit_count(CAST(a.%1$I AS BIT(64))) AS integer) AS minutes '
            'FROM activity AS a WHERE a.organization_id = $1 AND a.%1$I <> 0 AND (%2$s)',
            mask, array_to_string(plus, ' OR '));
    END IF;
    IF cardinality(minus) > 0 THEN
        parts := parts || format(
            'SELECT CAST(a.user_id AS text), a.hour / 86400, '
            '-CAST(bit_count(CAST(a.%1$I AS BIT(64))) AS integer) '
            'FROM activity AS a WHERE a.organization_id = $1 AND a.%1$I <> 0 AND (%2$s)',
            mask, array_to_string(minus, ' OR '));
    END IF;
    FOREACH day IN ARRAY totals LOOP
        parts := parts || format(
            'SELECT CAST(d.user_id AS text), CAST(%1$s AS bigint), CAST(d.%3$I AS integer) '
            'FROM activity_days AS d WHERE d.organization_id = $1 AND d.category = $2 '
            'AND d.block = %2$s AND d.%3$I <> 0',
            day / 86400, day / 86400 / 32, 'd' || lpad(CAST(day / 86400 % 32 AS text), 2, '0'));
    END LOOP;
    IF w1 > w0 THEN  -- only the columns in range: a CASE per block that the range cuts
        blocks := ARRAY[w0 / 86400 / 32, (w1 / 86400 - 1) / 32];
        lows := ARRAY[w0 / 86400 % 32, 0];
        highs := ARRAY[31, (w1 / 86400 - 1) % 32];
        IF blocks[1] = blocks[2] THEN
            blocks := blocks[1:1];
            lows := lows[1:1];
            highs := highs[2:2];
        END IF;
        FOR i IN 1 .. cardinality(blocks) + 1 LOOP
            IF i <= cardinality(blocks) THEN
                day_minutes := day_minutes || format(' WHEN %s THEN 0', blocks[i]);
                day_count := day_count || format(' WHEN %s THEN 0', blocks[i]);
                day_last := day_last || format(' WHEN %s THEN CASE', blocks[i]);
            ELSE
                day_minutes := day_minutes || ' ELSE 0';
                day_count := day_count || ' ELSE 0';
                day_last := day_last || ' ELSE CASE';
                lows := lows || 0;
                highs := highs || 31;
            END IF;
            SELECT day_minutes || string_agg(format(' + d.%I', c), '' ORDER BY c),
                   day_count
                       || string_agg(format(' + CAST(d.%I > 0 AS integer)', c), '' ORDER BY c),
                   day_last
                       || string_agg(format(' WHEN d.%I > 0 THEN %s', c, n), '' ORDER BY c DESC)
                       || ' END'
            INTO day_minutes, day_count, day_last
            FROM (SELECT n, 'd' || lpad(CAST(n AS text), 2, '0') AS c
                  FROM generate_series(lows[i], highs[i]) AS n) AS columns;
        END LOOP;
        day_minutes := 'CASE d.block' || day_minutes || ' END';
        day_count := 'CASE d.block' || day_count || ' END';
        day_last := 'd.block * 32 + CASE d.block' || day_last || ' END';
    ELSE  -- no whole closed days: the blocks are not read
        day_minutes := '0';
        day_count := '0';
        day_last := 'CAST(NULL AS integer)';
    END IF;
    IF cardinality(parts) = 0 THEN
        parts := parts || 'SELECT NULL::text, NULL::bigint, NULL::integer WHERE FALSE'::text;
    END IF;
    RETURN QUERY EXECUTE format({_literal(query)},
        array_to_string(parts, ' UNION ALL '), mask, 'last_' || action,
        day_minutes, day_count, day_last)
        USING org_key, category, w0 / 86400, w1 / 86400, h0, h1;
END
$function$
"""


def _per_user(schema: str) -> str:
    """``usage_activity_per_user``: the blocks' whole days and the pieces, summed per user."""
    seen = "s.%3$I - s.%3$I %% 3600"  # %% is format()'s %
    query = f"""
WITH pieces (user_id, day, minutes) AS (%1$s),
days AS (
    SELECT p.user_id, p.day, sum(p.minutes) AS minutes FROM pieces AS p
    GROUP BY p.user_id, p.day HAVING sum(p.minutes) > 0
),
blocks AS (
    SELECT CAST(d.user_id AS text) AS user_id, %4$s AS minutes, %5$s AS days,
           %6$s AS last_day
    FROM activity_days AS d
    WHERE $3 < $4 AND d.organization_id = $1 AND d.category = $2
      AND d.block >= $3 / 32 AND d.block <= ($4 - 1) / 32
),
per_user AS (
    SELECT t.user_id, sum(t.minutes) AS minutes, sum(t.days) AS days, max(t.last_day) AS last_day
    FROM (
        SELECT user_id, minutes, 1 AS days, day AS last_day FROM days
        UNION ALL SELECT user_id, minutes, days, last_day FROM blocks
    ) AS t
    GROUP BY t.user_id
    HAVING sum(t.minutes) > 0
),
seen AS (  -- the hour of the user's newest minute, when it lies in the range
    SELECT p.user_id, p.minutes, p.days, p.last_day,
           CASE WHEN {seen} >= $5 AND {seen} < $6 THEN {seen} END AS last_hour
    FROM per_user AS p
    LEFT JOIN last_seen AS s ON s.organization_id = $1 AND s.user_id = p.user_id
),
probed AS (  -- else the newest hour with minutes of the user's last active day in the range
    SELECT CAST(a.user_id AS text) AS user_id, max(a.hour) AS last_hour
    FROM activity AS a
    JOIN seen AS f ON f.user_id = a.user_id AND f.last_day = a.hour / 86400
    WHERE f.last_hour IS NULL AND a.organization_id = $1 AND a.%2$I <> 0
      AND a.hour = ANY (ARRAY(
          SELECT DISTINCT generate_series(
              greatest($5, g.last_day * 86400), least($6 - 3600, g.last_day * 86400 + 82800),
              3600)
          FROM seen AS g WHERE g.last_hour IS NULL))
    GROUP BY a.user_id
)
SELECT s.user_id, CAST(u.username AS text), CAST(u.name AS text),
       CAST(s.minutes AS bigint), CAST(s.days AS integer),
       to_timestamp(coalesce(s.last_hour, q.last_hour))
FROM seen AS s
JOIN users AS u ON u.id = s.user_id
LEFT JOIN probed AS q ON q.user_id = s.user_id
"""
    returns = (
        "user_id text, username text, name text, active_minutes bigint, active_days integer, "
        "last_active timestamptz"
    )
    return _function("usage_activity_per_user", schema, returns, query)


def _per_day(schema: str) -> str:
    """``usage_activity_per_day``: the blocks' day columns and the pieces, summed per day."""
    counted = ", ".join(
        f"count(*) FILTER (WHERE d.{day} > 0) AS u{index}, sum(d.{day}) AS m{index}"
        for index, day in enumerate(DAYS)
    )
    unpivot = ", ".join(f"({index}, b.u{index}, b.m{index})" for index in range(32))
    query = f"""
WITH pieces (user_id, day, minutes) AS (%1$s),
days AS (
    SELECT p.user_id, p.day, sum(p.minutes) AS minutes FROM pieces AS p
    GROUP BY p.user_id, p.day HAVING sum(p.minutes) > 0
),
blocks AS (
    SELECT d.block, {counted}
    FROM activity_days AS d JOIN users AS u ON u.id = d.user_id
    WHERE $3 < $4 AND d.organization_id = $1 AND d.category = $2
      AND d.block >= $3 / 32 AND d.block <= ($4 - 1) / 32
    GROUP BY d.block
)
SELECT to_timestamp(t.day * 86400), CAST(sum(t.users) AS bigint), CAST(sum(t.minutes) AS bigint)
FROM (
    SELECT x.day, count(*) AS users, sum(x.minutes) AS minutes
    FROM days AS x JOIN users AS u ON u.id = x.user_id GROUP BY x.day
    UNION ALL
    SELECT b.block * 32 + v.i, v.users, v.minutes
    FROM blocks AS b CROSS JOIN LATERAL (VALUES {unpivot}) AS v (i, users, minutes)
    WHERE b.block * 32 + v.i >= $3 AND b.block * 32 + v.i < $4 AND v.users > 0
) AS t
GROUP BY t.day
ORDER BY t.day
"""
    returns = '"time" timestamptz, active_users bigint, active_minutes bigint'
    return _function("usage_activity_per_day", schema, returns, query)


def _quoted(identifier: str) -> str:
    """``identifier`` quoted for SQL."""
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
