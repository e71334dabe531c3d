# Multi-stage: compile the Cython modules into a wheel, then install it into a
# slim runtime image without a compiler.
FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY tracker ./tracker
COPY schema ./schema
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
RUN useradd --system --create-home --home-dir /var/lib/tracker tracker
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER tracker
WORKDIR /var/lib/tracker
# ./data holds the write-ahead log and the DuckDB file: mount it to keep them.
VOLUME ["/var/lib/tracker/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["tracker"]
CMD ["run"]
