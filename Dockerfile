# syntax=docker/dockerfile:1
# usage-metrics: build a wheel, install it into a venv, run it as an unprivileged user.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --upgrade "pip==24.3.1" "build==1.2.2"
COPY pyproject.toml README.md ./
COPY exporter ./exporter
RUN /opt/venv/bin/python -m build --wheel --outdir /dist . \
    && /opt/venv/bin/pip uninstall --yes build \
    && /opt/venv/bin/pip install --no-cache-dir /dist/*.whl

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="usage-metrics" \
      org.opencontainers.image.description="Active users of a developer platform as Prometheus metrics and the Coder activity report" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 usage \
    && useradd --system --uid 10001 --gid usage --home-dir /var/lib/usage-metrics --create-home usage
COPY --from=build /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    USAGE_METRICS_LISTEN=0.0.0.0:9717 \
    USAGE_METRICS_DATABASE_URL=sqlite:////var/lib/usage-metrics/usage-metrics.db
WORKDIR /var/lib/usage-metrics
USER 10001:10001
EXPOSE 9717
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9717/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["usage-metrics"]
CMD ["serve"]
