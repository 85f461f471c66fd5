#!/bin/sh
# Runs once, when the PostgreSQL volume is created: a login role for Grafana that is given
# SELECT on the reader views only (the grafana-grants service grants it after migrating).
set -eu
psql --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" --set=ON_ERROR_STOP=1 \
  --set=password="$GRAFANA_PG_PASSWORD" <<'SQL'
CREATE ROLE grafana_reader LOGIN PASSWORD :'password';
REVOKE ALL ON SCHEMA public FROM grafana_reader;
GRANT USAGE ON SCHEMA public TO grafana_reader;
SQL
