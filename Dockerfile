# The Gebiedscheck Assen API. GDAL, PROJ and GEOS come inside the rasterio/pyogrio/shapely wheels.
# Map assets (Leaflet, ...) come from the npm registry at build time and are served by us (no CDN).
FROM node:20-slim AS assets
WORKDIR /assets
COPY maps/assets/package.json maps/assets/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GEBIEDSCHECK_LAYERS_DIR=/app/layers \
    GEBIEDSCHECK_DATA_DIR=/data \
    GEBIEDSCHECK_HOST=0.0.0.0 \
    GEBIEDSCHECK_PORT=8000

# Pango and a font for the PDF report (WeasyPrint); nothing is fetched at run time.
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
        fonts-dejavu-core && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
COPY service ./service
COPY maps ./maps
COPY --from=assets /assets/node_modules ./maps/assets/node_modules
# The versions of requirements.lock (the ones `make audit` checks), as constraints
RUN pip install --no-cache-dir -c requirements.lock -e .
COPY layers ./layers
COPY docker/entrypoint.sh /usr/local/bin/gebiedscheck-entrypoint
RUN chmod +x /usr/local/bin/gebiedscheck-entrypoint && useradd --system --uid 10001 gebiedscheck \
    && mkdir -p /data && chown gebiedscheck /data
USER gebiedscheck
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --retries=5 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
ENTRYPOINT ["gebiedscheck-entrypoint"]
