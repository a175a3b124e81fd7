/** Image policies (Flux ImagePolicy semantics), Go regexps, semver ranges and registry tag listing. */
export * from "./semver";
export * from "./goregexp";
export * from "./policy";
export * from "./registry";
export * from "./setters";
