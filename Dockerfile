# postmortem-bot: the HTTP-mode (or Socket Mode) bot as one small, non-root image.
#   docker build -t postmortem-bot .
#   docker run --env-file .env -p 3000:3000 postmortem-bot
# See README.md, "Deployment", and docker-compose.yml (the bot with PostgreSQL).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The package and its data (migrations, templates), installed like any other (not editable).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY templates ./templates
RUN pip install . && rm -rf /src

# Never root. /data is the working directory: the default SQLite file lands there (mount a
# volume on it), and no stray .env is read from anywhere else.
RUN useradd --system --uid 10001 --home-dir /data --create-home postmortem
USER postmortem
WORKDIR /data

# PORT is the bot's own setting (default 3000); the health check follows it.
ENV PORT=3000
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

# SIGTERM (docker stop) drains in-flight requests within SHUTDOWN_TIMEOUT_SECONDS (default 20;
# keep it below the stop timeout, `docker stop -t` / compose's stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["postmortem-bot"]
CMD ["run"]
