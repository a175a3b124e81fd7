export * from "./objects";
export * from "./flux-install";
export * from "./layout";
export { toYaml } from "./yaml";
