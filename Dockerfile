# Build stage: one self-contained binary. `deno compile` downloads its runtime base, so this
# stage needs network access to dl.deno.land (the runtime image does not).
FROM denoland/deno:2.9.6 AS build
WORKDIR /src
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY . .
RUN deno task compile

FROM gcr.io/distroless/cc-debian12:nonroot
WORKDIR /app
COPY --from=build /src/dist/pg-solo-lite /app/pg-solo-lite
ENV DATA_DIR=/data HTTP_HOST=0.0.0.0 HTTP_PORT=8080
VOLUME ["/data"]
EXPOSE 8080
USER nonroot
ENTRYPOINT ["/app/pg-solo-lite"]
CMD ["serve"]
