/** Flux OCI artifacts: build, push, copy (promotion by digest) and inspect over the Distribution API. */
export * from "./artifact";
export * from "./client";
export * from "./fleet";
export * from "./push";
export * from "./ref";
