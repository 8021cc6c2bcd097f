#!/usr/bin/env python3
"""The batch peer of the replay benchmark: DuckDB computing engagement_daily
and engagement_weekly from the same JSONL feeds, the way a data engineer
would with a nightly SQL job.

usage: duckdb_engagement.py INPUT_DIR OUT_DIR [--threads N]

Writes OUT_DIR/engagement_daily.csv and OUT_DIR/engagement_weekly.csv and
prints the elapsed seconds on the last line of stdout. It validates viewing
records with the same rules as streamflix where SQL makes that easy, and is
meant as a performance peer, not as the reference: the integration tests'
oracle is the reference.
"""
import os
import sys
import time

import duckdb


def main() -> None:
    source, out = sys.argv[1], sys.argv[2]
    threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2
    os.makedirs(out, exist_ok=True)
    started = time.time()
    db = duckdb.connect()
    db.execute(f"SET threads={threads}; SET TimeZone='UTC'")
    rfc3339 = r"'^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$'"
    number = "('BIGINT', 'UBIGINT', 'DOUBLE')"
    db.execute(f"""
    CREATE TABLE raw_viewing AS SELECT * FROM read_json('{source}/viewing.jsonl',
        format = 'newline_delimited', ignore_errors = true,
        columns = {{event_id: 'VARCHAR', event_time: 'VARCHAR', subscriber_id: 'VARCHAR',
                   device_id: 'VARCHAR', content_id: 'VARCHAR', watch_seconds: 'JSON',
                   position_seconds: 'JSON', duration_seconds: 'JSON', received_at: 'VARCHAR',
                   schema_version: 'JSON'}});

    CREATE TABLE viewing AS
    WITH typed AS (
        -- try_cast: the regular expressions let through values no timestamp
        -- has (month 13), and a cast that fails would stop the whole query.
        SELECT *, try_cast(event_time AS TIMESTAMPTZ) AS event_at,
               try_cast(received_at AS TIMESTAMPTZ) AS received,
               try_cast(watch_seconds AS DOUBLE) AS watch, try_cast(position_seconds AS DOUBLE) AS position,
               try_cast(duration_seconds AS DOUBLE) AS duration,
               try_cast(schema_version AS BIGINT) AS schema
        FROM raw_viewing
    ), valid AS (
        SELECT event_id, subscriber_id, content_id, event_at, received, watch, position, duration
        FROM typed
        WHERE length(event_id) BETWEEN 1 AND 128 AND length(subscriber_id) BETWEEN 1 AND 128
          AND length(device_id) BETWEEN 1 AND 128 AND length(content_id) BETWEEN 1 AND 128
          AND regexp_matches(event_time, {rfc3339}) AND event_at IS NOT NULL
          AND (received_at IS NULL OR (regexp_matches(received_at, {rfc3339}) AND received IS NOT NULL))
          AND json_type(watch_seconds) IN {number} AND json_type(position_seconds) IN {number}
          AND json_type(duration_seconds) IN {number}
          AND watch BETWEEN 0 AND 3600 AND position >= 0 AND duration > 0
          AND (schema_version IS NULL OR schema <= 1)
    )
    SELECT *, timezone('America/Chicago', event_at)::DATE AS day FROM valid
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY event_at, subscriber_id, content_id, watch) = 1;

    CREATE TABLE flagged AS
    SELECT DISTINCT subscriber_id FROM read_json('{source}/account_flags.jsonl',
        format = 'newline_delimited', ignore_errors = true,
        columns = {{event_id: 'VARCHAR', event_time: 'VARCHAR', subscriber_id: 'VARCHAR', flag: 'VARCHAR'}})
    WHERE flag IN ('bot', 'spam', 'fraud', 'test') AND length(event_id) BETWEEN 1 AND 128
      AND length(subscriber_id) BETWEEN 1 AND 128
      AND regexp_matches(event_time, {rfc3339}) AND try_cast(event_time AS TIMESTAMPTZ) IS NOT NULL;

    CREATE TABLE bot_day AS
    SELECT subscriber_id, day FROM viewing WHERE subscriber_id NOT IN (SELECT subscriber_id FROM flagged)
    GROUP BY subscriber_id, day HAVING sum(watch) > 86400;

    CREATE TABLE counted AS
    SELECT v.* FROM viewing v
    WHERE v.subscriber_id NOT IN (SELECT subscriber_id FROM flagged)
      AND NOT EXISTS (SELECT 1 FROM bot_day b WHERE b.subscriber_id = v.subscriber_id AND b.day = v.day);

    CREATE TABLE calendar AS
    SELECT unnest(generate_series(min(day), max(day), INTERVAL 1 DAY))::DATE AS day FROM viewing;

    CREATE TABLE active AS SELECT DISTINCT day, subscriber_id FROM counted WHERE watch > 0;

    CREATE TABLE session_start AS
    WITH marked AS (
        SELECT *, coalesce(epoch(event_at) - epoch(lag(event_at) OVER by_time) > 1800, true) AS starts
        FROM counted WINDOW by_time AS (PARTITION BY subscriber_id ORDER BY event_at, event_id)
    ), numbered AS (
        SELECT *, sum(starts::INT) OVER (PARTITION BY subscriber_id ORDER BY event_at, event_id
                                         ROWS UNBOUNDED PRECEDING) AS session
        FROM marked
    ), sessions AS (
        SELECT subscriber_id, session, arg_min(day, (event_at, event_id)) AS day, sum(watch) AS watch
        FROM numbered GROUP BY subscriber_id, session
    ), plays AS (
        SELECT subscriber_id, session,
               (max(position) >= 0.9 * arg_max(duration, (event_at, event_id)))::INT AS completed
        FROM numbered GROUP BY subscriber_id, session, content_id
    ), per_session AS (
        SELECT s.day, s.watch, count(*) AS plays, sum(p.completed) AS completed
        FROM sessions s JOIN plays p USING (subscriber_id, session)
        GROUP BY s.subscriber_id, s.session, s.day, s.watch
    )
    SELECT day, count(*) AS sessions, sum(watch) AS watch, sum(plays) AS plays, sum(completed) AS completed
    FROM per_session GROUP BY day;

    CREATE TABLE daily AS
    SELECT c.day,
        (SELECT count(*) FROM active a WHERE a.day = c.day) AS dau,
        (SELECT count(DISTINCT subscriber_id) FROM active a WHERE a.day BETWEEN c.day - 6 AND c.day) AS wau,
        (SELECT count(DISTINCT subscriber_id) FROM active a WHERE a.day BETWEEN c.day - 29 AND c.day) AS mau,
        coalesce(s.sessions, 0) AS sessions,
        coalesce((SELECT sum(watch) FROM counted x WHERE x.day = c.day), 0) / 3600 AS hours_watched,
        s.watch / 60 / nullif(s.sessions, 0) AS avg_session_minutes,
        coalesce(s.plays, 0) AS plays, coalesce(s.completed, 0) AS completed_plays,
        s.completed / nullif(s.plays, 0) AS completion_rate,
        (SELECT count(*) FROM bot_day b WHERE b.day = c.day) AS bot_days
    FROM calendar c LEFT JOIN session_start s USING (day) ORDER BY c.day;
    """)
    db.execute(f"COPY daily TO '{out}/engagement_daily.csv' (HEADER)")
    db.execute(f"""
    COPY (
    WITH weeks AS (SELECT DISTINCT date_trunc('week', day)::DATE AS week FROM calendar), figures AS (
        SELECT w.week,
            (SELECT count(DISTINCT subscriber_id) FROM active a WHERE a.day BETWEEN w.week AND w.week + 6) AS wau,
            (SELECT count(*) FROM active a WHERE a.day BETWEEN w.week AND w.week + 6) / 7 AS avg_dau,
            (SELECT count(DISTINCT subscriber_id) FROM active a WHERE a.day BETWEEN w.week - 23 AND w.week + 6) AS mau,
            (SELECT sum(sessions) FROM daily d WHERE d.day BETWEEN w.week AND w.week + 6) AS sessions,
            (SELECT sum(hours_watched) FROM daily d WHERE d.day BETWEEN w.week AND w.week + 6) AS hours_watched,
            (SELECT sum(completed_plays) / nullif(sum(plays), 0) FROM daily d
              WHERE d.day BETWEEN w.week AND w.week + 6) AS completion_rate,
            (SELECT median(epoch(received) - epoch(event_at)) FROM counted x
              WHERE x.day BETWEEN w.week AND w.week + 6) AS skew_median_seconds,
            (SELECT count(DISTINCT subscriber_id) FROM viewing v
              WHERE v.day BETWEEN w.week AND w.week + 6
                AND v.subscriber_id IN (SELECT subscriber_id FROM flagged)) AS excluded_subscribers,
            (SELECT sum(bot_days) FROM daily d WHERE d.day BETWEEN w.week AND w.week + 6) AS bot_days
        FROM weeks w
    )
    SELECT week, wau, avg_dau, mau, sessions, hours_watched, hours_watched / nullif(wau, 0) AS hours_per_active,
           completion_rate, skew_median_seconds, excluded_subscribers, bot_days
    FROM figures ORDER BY week
    ) TO '{out}/engagement_weekly.csv' (HEADER)""")
    print(f"{time.time() - started:.3f}")


if __name__ == "__main__":
    main()
