# One image for every service; compose runs one container per service with
# `mes-sandbox run NAME --host 0.0.0.0`. Alone, it runs the whole sandbox: `docker run -p
# 8400-8404:8400-8404 -p 2525:2525 -p 1143:1143 mes-sandbox`.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MES_DATA_DIR=/data \
    MES_HOST=0.0.0.0

WORKDIR /app
COPY requirements-runtime.lock ./
RUN pip install --no-cache-dir uv==0.13.9 \
 && uv pip install --system --no-cache --compile-bytecode -r requirements-runtime.lock

COPY pyproject.toml README.md ./
COPY services ./services
COPY shared ./shared
RUN uv pip install --system --no-cache --no-deps --compile-bytecode . \
 && rm -rf /app/services /app/shared \
 && mkdir -p /data

WORKDIR /data
VOLUME ["/data"]
EXPOSE 8400 8401 8402 8403 8404 2525 1143
ENTRYPOINT ["mes-sandbox"]
CMD ["up", "--host", "0.0.0.0"]
