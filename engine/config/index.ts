export * from "./schema";
export * from "./load";
export { durationMs } from "./check";
export * from "./validate";
