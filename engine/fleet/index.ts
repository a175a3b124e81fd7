export * from "./objects";
export * from "./flux-sync";
export * from "./layout";
export { toYaml } from "./yaml";
