# casetrail: API server image. Configuration only through environment
# variables (CASETRAIL_DATABASE_URL, CASETRAIL_CALENDAR, CASETRAIL_SIGNING_KEY,
# CASETRAIL_WITNESS). The checkpoint signing key is made on first start.

# --- build stage: a virtualenv with casetrail's wheel (no extras) -------------
# scripts/install_wheel.sh builds the wheel and installs it the same way the
# base-install test does (tests/e2e/test_e2e_base_install.py).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY projections ./projections
COPY api ./api
COPY scripts ./scripts
RUN sh scripts/install_wheel.sh /opt/casetrail python

# --- final stage: no build tools, non-root ------------------------------------
FROM python:3.11-slim
RUN groupadd --system --gid 10001 casetrail \
 && useradd --system --uid 10001 --gid casetrail --home-dir /var/lib/casetrail --create-home casetrail \
 && install -d -o casetrail -g casetrail -m 0700 /var/lib/casetrail-keys \
 && install -d -o casetrail -g casetrail -m 0755 /var/lib/casetrail-witness
COPY --from=build /opt/casetrail /opt/casetrail
ENV PATH=/opt/casetrail/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    CASETRAIL_DATABASE_URL=sqlite:////var/lib/casetrail/casetrail.db \
    CASETRAIL_SIGNING_KEY=/var/lib/casetrail-keys/casetrail-signing-key.pem \
    CASETRAIL_MASTER_KEY_FILE=/var/lib/casetrail-keys/casetrail-master-key \
    CASETRAIL_WITNESS=/var/lib/casetrail-witness/casetrail-witness.jsonl
USER casetrail
WORKDIR /var/lib/casetrail
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
CMD ["casetrail", "serve", "--host", "0.0.0.0", "--port", "8000"]
