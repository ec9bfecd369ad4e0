# The faultline image: the simulation binary (built with --cfg madsim) and the scenario
# catalog. Build and push it, then start the sweep (ci/k8s/README.md):
#   docker build --build-arg COMMIT=$(git rev-parse HEAD) -t registry.example.com/faultline:$(git rev-parse --short HEAD) .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --profile sim --locked --config "build.rustflags=['--cfg','madsim']" --target-dir target/sim \
      -p sim --bin faultline

FROM debian:bookworm-slim
ARG COMMIT=unknown
# The report's "what ran": an image has no .git to ask.
ENV FAULTLINE_COMMIT=$COMMIT
COPY --from=build /src/target/sim/sim/faultline /usr/local/bin/faultline
COPY scenarios /opt/faultline/scenarios
WORKDIR /opt/faultline
ENTRYPOINT ["faultline"]
CMD ["nightly"]
