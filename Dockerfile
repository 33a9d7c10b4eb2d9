# facilitation: the web app, served by uvicorn with several worker processes.
# Built by docker-compose.yml, which runs it beside Redis (see the README's
# "Deployment with Redis and docker compose").
FROM python:3.12-slim

WORKDIR /src
COPY pyproject.toml README.md ./
COPY facilitation ./facilitation
COPY templates ./templates
COPY static ./static
COPY translations ./translations
RUN pip install --no-cache-dir . && rm -rf /src

# Never root: the app only needs its data folder (generated admin token and secret key).
RUN useradd --system --uid 10001 --home-dir /data --create-home facilitation
USER facilitation
WORKDIR /data

ENV FACILITATION_DATA_DIR=/data \
    FACILITATION_HOST=0.0.0.0 \
    FACILITATION_PORT=8000 \
    PYTHONUNBUFFERED=1
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

CMD ["facilitation", "serve"]
