# pixbot: one image for Tchap (Matrix), Slack and the console.
# The database (SQLite) and the Matrix E2EE store live on the /data volume: back it up.
# The user and group have fixed ids (10001:10001), the same on every host sharing the volume.
# Exit codes: bot/exitcodes.py (2 bad settings, 4 login refused, 78 device to heal: a person first).
# The dashboard's look: DSFR from its npm package, at build time (not in the repository).
FROM node:20-slim AS dsfr
WORKDIR /dsfr
RUN npm pack @gouvfr/dsfr@1.15.3 --silent

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY scheduler ./scheduler
COPY storage ./storage
COPY scripts ./scripts
COPY --from=dsfr /dsfr/gouvfr-dsfr-1.15.3.tgz /tmp/
RUN python scripts/vendor_dsfr.py --from /tmp/gouvfr-dsfr-1.15.3.tgz \
    && pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIXBOT_CONFIG=/etc/pixbot/pixbot.toml \
    PIXBOT_BOT__DATABASE_URL=sqlite:////data/pixbot.db \
    PIXBOT_MATRIX__STORE_PATH=/data/matrix-store \
    PIXBOT_HTTP__LISTEN=0.0.0.0:8080
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 pixbot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin pixbot \
    && mkdir -p /data /etc/pixbot \
    && chown pixbot:pixbot /data \
    && touch /etc/pixbot/pixbot.toml
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
# SIGTERM (docker stop) ends it cleanly within 10 s: the message in flight is finished or left
# for the next start, the sync token is kept.
STOPSIGNAL SIGTERM
ENTRYPOINT ["pixbot"]
CMD ["run"]
