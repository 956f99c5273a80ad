# The Gebiedscheck Assen API. GDAL, PROJ and GEOS come inside the rasterio/pyogrio/shapely wheels.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GEBIEDSCHECK_LAYERS_DIR=/app/layers \
    GEBIEDSCHECK_DATA_DIR=/data \
    GEBIEDSCHECK_HOST=0.0.0.0 \
    GEBIEDSCHECK_PORT=8000

WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY maps ./maps
RUN pip install --no-cache-dir .
COPY layers ./layers
COPY docker/entrypoint.sh /usr/local/bin/gebiedscheck-entrypoint
RUN chmod +x /usr/local/bin/gebiedscheck-entrypoint && useradd --system --uid 10001 gebiedscheck \
    && mkdir -p /data && chown gebiedscheck /data
USER gebiedscheck
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --retries=5 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
ENTRYPOINT ["gebiedscheck-entrypoint"]
