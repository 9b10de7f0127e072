# shardlearn serve as a Vertex AI custom prediction container (README: Serving
# predictions). Two stages: the build on Debian 12, then the command alone on
# Debian 12 slim with the runtime libraries.
#
#   docker build -t shardlearn-serve .
#   docker run -p 8080:8080 -e AIP_HTTP_PORT=8080 -v $PWD:/models shardlearn-serve
#
# The image holds no model: give --model at run time (a file mounted or
# copied into a derived image, or runs:/ / models:/ with MLFLOW_TRACKING_URI).
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libopenmpi-dev libopenblas-dev libcurl4-openssl-dev \
      libcjson-dev libyaml-dev libssl-dev zlib1g-dev libzstd-dev libmurmurhash-dev \
      libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY include include
COPY src src
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSL_BUILD_TESTS=OFF \
 && cmake --build build -j"$(nproc)" \
 && install -D -m 0755 build/shardlearn /out/usr/local/bin/shardlearn

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libopenmpi3 libopenblas0 libcurl4 libcjson1 libyaml-0-2 libssl3 zlib1g libzstd1 \
      libmurmurhash2 libmicrohttpd12 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home shardlearn \
 && mkdir /models
COPY --from=build /out/ /
# One process, one BLAS thread (a prediction is a dot product); Open MPI's
# singleton needs no transport but self.
ENV OPENBLAS_NUM_THREADS=1 OMPI_MCA_btl=self
USER shardlearn
# Vertex AI sets AIP_HTTP_PORT (8080), AIP_PREDICT_ROUTE and AIP_HEALTH_ROUTE;
# serve then listens on 0.0.0.0 at that port with those routes.
EXPOSE 8080
ENTRYPOINT ["shardlearn", "serve"]
# No default model: Vertex AI's AIP_STORAGE_URI (set from `models upload
# --artifact-uri`) names it, or the arguments do (--model /models/model.json,
# models:/NAME@ALIAS, gs://...).
CMD []
